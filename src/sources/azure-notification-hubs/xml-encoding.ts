import { TextDecoder } from 'node:util';

/**
 * Decodes the bytes of an XML entity the way XML 1.0 says a processor finds its encoding
 * (https://www.w3.org/TR/xml/#sec-guessing, Appendix F): a byte order mark first; without one, the
 * byte pattern of the first characters (UTF-16 without a BOM shows a 00 byte beside each ASCII
 * character: `3C 00 3F 00` is `<?` little-endian, `00 3C 00 3F` big-endian); otherwise the
 * encoding the XML declaration names, read as ASCII.
 *
 * Used for PNS error-details blobs, whose records declare `encoding="utf-16"` while the byte order
 * and BOM of the blob are not documented: every plausible form is read.
 */
export interface DecodedXml {
  text: string;
  /** The encoding used, for logs: `utf-8`, `utf-16le`, `utf-16be`, or another declared label. */
  encoding: string;
}

const utf16Declarations = new Set(['utf-16', 'utf-16le', 'utf-16be', 'ucs-2', 'unicode', 'iso-10646-ucs-2']);
const declarationPattern = /^\s*<\?xml\s[^?>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1/;

export function decodeXmlBytes(bytes: Uint8Array): DecodedXml {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [first, second, third] = [buffer[0], buffer[1], buffer[2]];
  if (first === 0xef && second === 0xbb && third === 0xbf) return utf8(buffer.subarray(3));
  if (first === 0xff && second === 0xfe) return utf16(buffer.subarray(2), 'utf-16le');
  if (first === 0xfe && second === 0xff) return utf16(buffer.subarray(2), 'utf-16be');
  if (first !== undefined && second !== undefined) {
    if (first !== 0 && second === 0) return utf16(buffer, 'utf-16le');
    if (first === 0 && second !== 0) return utf16(buffer, 'utf-16be');
  }
  return byDeclaration(buffer);
}

/**
 * An ASCII-compatible entity: the declaration names the encoding. A declaration that says UTF-16
 * but is itself written one byte per character cannot be true (.NET writes `encoding="utf-16"`
 * into XML serialised to a string, which is then often stored as UTF-8): the bytes win.
 */
function byDeclaration(buffer: Buffer): DecodedXml {
  const declared = declarationPattern.exec(buffer.subarray(0, 256).toString('latin1'))?.[2]?.toLowerCase();
  if (declared === undefined || declared === 'utf-8' || declared === 'us-ascii' || utf16Declarations.has(declared)) return utf8(buffer);
  const decoder = decoderFor(declared);
  return decoder ? { text: decoder.decode(buffer), encoding: declared } : utf8(buffer);
}

function decoderFor(label: string): TextDecoder | undefined {
  try {
    return new TextDecoder(label);
  } catch {
    // A label this Node.js does not know (or a build without ICU): read it as UTF-8, the records'
    // markup is ASCII either way, and whatever does not parse is counted as invalid.
    return undefined;
  }
}

function utf8(buffer: Buffer): DecodedXml {
  return { text: buffer.toString('utf8'), encoding: 'utf-8' };
}

/**
 * Node decodes UTF-16LE without ICU; big-endian is byte-swapped into it (TextDecoder's `utf-16be`
 * needs ICU, absent from some Node builds). A dangling odd byte cannot be a character: it becomes
 * U+FFFD, so a cut blob leaves a visible trace rather than vanishing.
 */
function utf16(buffer: Buffer, encoding: 'utf-16le' | 'utf-16be'): DecodedXml {
  const evenLength = buffer.length - (buffer.length % 2);
  const units = Buffer.from(buffer.subarray(0, evenLength));
  if (encoding === 'utf-16be') units.swap16();
  const text = units.toString('utf16le') + (evenLength < buffer.length ? '\uFFFD' : '');
  return { text, encoding };
}
