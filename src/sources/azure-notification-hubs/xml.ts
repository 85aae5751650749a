import { XMLParser } from 'fast-xml-parser';

/**
 * The one way Notification Hubs XML is read: elements by local name (any namespace prefix),
 * attributes ignored, values kept as text, only the predefined XML entities decoded. Callers refuse
 * DOCTYPE and ENTITY declarations before parsing, so no custom entity is ever expanded.
 */
export function createXmlParser(options: { alwaysArray?: readonly string[] } = {}): XMLParser {
  const alwaysArray = new Set(options.alwaysArray ?? []);
  return new XMLParser({
    removeNSPrefix: true,
    ignoreAttributes: true,
    parseTagValue: false,
    trimValues: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
    processEntities: true,
    htmlEntities: false,
    isArray: (tagName) => alwaysArray.has(tagName),
  });
}

/** Entity expansion ("billion laughs") and external entities both need a DOCTYPE: refused outright. */
export function hasDocumentTypeDeclaration(xml: string): boolean {
  return /<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml);
}
