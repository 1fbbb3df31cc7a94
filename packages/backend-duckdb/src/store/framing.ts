/**
 * The line framing of the local files that hold acknowledged writes (the journal, the outbox): each
 * record is one line `<crc32 hex> <body>\n`, appended whole, so a crash can only cut the last line. A
 * body never holds a raw newline (JSON text escapes it).
 */
import { crc32 } from 'node:zlib';

export function frameLine(body: string): string {
  return `${crc32(body).toString(16)} ${body}\n`;
}

export interface FramedLines {
  /** Bodies of the intact lines from the start, in order. */
  bodies: string[];
  /** Bytes of those lines: where the next append belongs once the damage is cut off. */
  intactBytes: number;
  /**
   * `torn-tail`: the last line is cut short or fails its checksum (a crash during an append, never
   * acknowledged); `corrupt`: a bad line has more lines after it, which a crash cannot leave (the disk or
   * another program damaged the file), and the lines after it are not in `bodies`.
   */
  damage: 'none' | 'torn-tail' | 'corrupt';
}

export function readFramedLines(bytes: Buffer): FramedLines {
  const bodies: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) return { bodies, intactBytes: start, damage: 'torn-tail' };
    const line = bytes.subarray(start, end).toString('utf8');
    const space = line.indexOf(' ');
    const body = line.slice(space + 1);
    if (space <= 0 || line.slice(0, space) !== crc32(body).toString(16)) {
      return { bodies, intactBytes: start, damage: end + 1 >= bytes.length ? 'torn-tail' : 'corrupt' };
    }
    bodies.push(body);
    start = end + 1;
  }
  return { bodies, intactBytes: start, damage: 'none' };
}
