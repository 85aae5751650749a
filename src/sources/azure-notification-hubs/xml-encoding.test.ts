import { describe, expect, it } from 'vitest';
import { decodeXmlBytes } from './xml-encoding.js';

const sample = '<?xml version="1.0" encoding="utf-16"?><a>é😀</a>';
const le = Buffer.from(sample, 'utf16le');
const be = Buffer.from(sample, 'utf16le').swap16();

describe('decodeXmlBytes', () => {
  it.each([
    ['UTF-8 with a BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(sample)]), 'utf-8'],
    ['UTF-16LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), le]), 'utf-16le'],
    ['UTF-16BE with a BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), be]), 'utf-16be'],
    ['UTF-16LE without a BOM (3C 00 3F 00)', le, 'utf-16le'],
    ['UTF-16BE without a BOM (00 3C 00 3F)', be, 'utf-16be'],
    ['UTF-8 declaring utf-16', Buffer.from(sample), 'utf-8'],
  ])('decodes %s', (_name, bytes, encoding) => {
    expect(decodeXmlBytes(bytes)).toEqual({ text: sample, encoding });
  });

  it('finds UTF-16 without a BOM or a declaration from the first character', () => {
    expect(decodeXmlBytes(Buffer.from('\r\n<PnsFeedback/>', 'utf16le'))).toEqual({ text: '\r\n<PnsFeedback/>', encoding: 'utf-16le' });
    expect(decodeXmlBytes(Buffer.from('<PnsFeedback/>', 'utf16le').swap16()).encoding).toBe('utf-16be');
  });

  it('decodes an 8-bit declared encoding, and reads an unknown one as UTF-8', () => {
    const latin = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><a>'), Buffer.from([0xe9]), Buffer.from('</a>')]);
    expect(decodeXmlBytes(latin).text).toBe('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>');
    expect(decodeXmlBytes(Buffer.from("<?xml version='1.0' encoding='x-made-up'?><a/>"))).toEqual({
      text: "<?xml version='1.0' encoding='x-made-up'?><a/>",
      encoding: 'utf-8',
    });
  });

  it('turns a dangling odd byte of UTF-16 into U+FFFD, and reads empty input as empty', () => {
    expect(decodeXmlBytes(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<a/>', 'utf16le'), Buffer.from([0x3c])])).text).toBe('<a/>\uFFFD');
    expect(decodeXmlBytes(Buffer.alloc(0))).toEqual({ text: '', encoding: 'utf-8' });
  });
});
