/**
 * Human-readable output. Machines use `--json`, which prints the protocol's result objects unchanged;
 * everything here is for people reading a terminal, so it favours short lines and plain words.
 */
import pc from 'picocolors';
import type { JsonObject, JsonValue, ListSuccess, RetrieveFound, SearchSuccess, StatsSuccess } from '@ltm/core';

export interface Output {
  /** A line on stdout. */
  line(text?: string): void;
  /** A line on stderr. */
  error(text: string): void;
  /** Columns of the terminal, or a comfortable default when stdout is not one. */
  readonly width: number;
  readonly isTTY: boolean;
  readonly stdout: NodeJS.WritableStream;
}

export function processOutput(): Output {
  return {
    line: (text = '') => void process.stdout.write(`${text}\n`),
    error: (text) => void process.stderr.write(`${text}\n`),
    width: process.stdout.isTTY ? process.stdout.columns : 100,
    isTTY: process.stdout.isTTY === true,
    stdout: process.stdout,
  };
}

/** A value as one would write it: strings as they are, everything else as JSON. */
export function valueText(value: JsonValue, pretty: boolean): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, pretty ? 2 : undefined);
}

/** One line, cut to `width` characters with an ellipsis. */
export function preview(value: JsonValue, width: number): string {
  const text = valueText(value, false).replace(/\s+/g, ' ').trim();
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(1, width - 1)).join('')}…`;
}

export function metadataText(metadata: JsonObject): string {
  return Object.keys(metadata).length === 0 ? '{}' : JSON.stringify(metadata);
}

export function formatEntry(key: string, entry: RetrieveFound): string[] {
  const value = valueText(entry.value, true);
  const [first = '', ...rest] = value.split('\n');
  const lines = [
    `${pc.dim('key')}       ${key}`,
    `${pc.dim('value')}     ${first}`,
    ...rest.map((line) => `          ${line}`),
    `${pc.dim('metadata')}  ${metadataText(entry.metadata)}`,
    `${pc.dim('created')}   ${entry.createdAt}`,
    `${pc.dim('updated')}   ${entry.updatedAt}`,
  ];
  if (entry.expiresAt !== undefined) lines.push(`${pc.dim('expires')}   ${entry.expiresAt}`);
  return lines;
}

export function formatSearch(result: SearchSuccess, width: number, describe: string, showCursor = true): string[] {
  const about = describe === '' ? '' : ` ${describe}`;
  if (result.count === 0) return [`no results${about}`];
  const lines = [`${result.count} result${result.count === 1 ? '' : 's'}${about}`];
  const indent = '    ';
  result.results.forEach((hit, i) => {
    const rank = `${String(i + 1).padStart(2)}.`;
    const score = hit.score === 0 ? pc.dim(`updated ${hit.updatedAt}`) : pc.dim(`score ${hit.score.toFixed(3)}`);
    lines.push(`${rank} ${pc.bold(hit.key)}  ${score}`);
    lines.push(`${indent}${preview(hit.value, width - indent.length)}`);
    lines.push(`${indent}${pc.dim(preview(hit.metadata, width - indent.length))}`);
  });
  if (showCursor && result.nextCursor !== undefined) lines.push(pc.dim(`more results: add --cursor ${result.nextCursor}`));
  return lines;
}

export function formatList(result: ListSuccess, width: number): string[] {
  if (result.items.length === 0) return ['no keys'];
  const keyWidth = Math.min(60, Math.max(...result.items.map((item) => [...item.key].length)));
  const lines = result.items.map((item) => {
    const key = item.key.padEnd(keyWidth);
    const rest = width - keyWidth - 28;
    return `${key}  ${pc.dim(item.updatedAt)}  ${rest > 10 ? pc.dim(preview(item.metadata, rest)) : ''}`.trimEnd();
  });
  if (result.nextCursor !== undefined) lines.push(pc.dim(`more keys: add --cursor ${result.nextCursor}`));
  return lines;
}

export function formatStats(stats: StatsSuccess): string[] {
  const capabilities = Object.entries(stats.capabilities)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .join(', ');
  const rows: [string, string][] = [
    ['backend', stats.backend],
    ['entries', String(stats.entries)],
    ['capabilities', capabilities || 'none'],
    ...flatten(stats.details).map(([path, value]): [string, string] => [path, typeof value === 'string' ? value : JSON.stringify(value)]),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${pc.dim(label.padEnd(width))}  ${value}`);
}

/** Nested details as dotted paths, so every number gets its own line. */
function flatten(value: JsonValue, prefix = ''): [string, JsonValue][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, value]];
  return Object.entries(value).flatMap(([name, inner]) => flatten(inner, prefix === '' ? name : `${prefix}.${name}`));
}
