import { describe, expect, it } from 'vitest';
import {
  analyzeDocument,
  analyzeQuery,
  BM25_B,
  BM25_K1,
  extraTerms,
  ftsDocumentTerms,
  ftsNormalize,
  ftsQueryTerms,
  ftsTokens,
  indexedText,
  porterStem,
  scoreBm25,
  type DocumentTerms,
  type JsonValue,
} from '../src/index.js';

describe('indexedText', () => {
  it('joins string leaves in document order, without keys, numbers, booleans or null', () => {
    const value = { title: 'Alpha', n: 42, ok: true, none: null, list: ['beta', 7, ['gamma']], nested: { deep: 'delta' } };
    expect(indexedText(value)).toBe('Alpha beta gamma delta');
  });

  it('keeps a string as is: no JSON escaping, so \\n is a line break, not the word n', () => {
    expect(indexedText('line\nbreak "quoted" back\\slash')).toBe('line\nbreak "quoted" back\\slash');
    expect(ftsTokens(indexedText({ text: 'line\nbreak' }))).toEqual(['line', 'break']);
  });

  it('gives an empty text for values without strings', () => {
    for (const value of [null, 1, true, [], {}, [1, [2, { a: false }]]] as JsonValue[]) expect(indexedText(value)).toBe('');
  });

  it('handles nesting far deeper than the call stack', () => {
    let value: JsonValue = 'bottom';
    for (let i = 0; i < 100_000; i++) value = i % 2 === 0 ? [value] : { child: value };
    expect(indexedText(value)).toBe('bottom');
  });
});

describe('ftsNormalize and ftsTokens (fts tokenize)', () => {
  it('strips accents and lower-cases', () => {
    expect(ftsTokens('Café NAÏVE Ångström Zürich São Dvořák')).toEqual(['cafe', 'naive', 'angstrom', 'zurich', 'sao', 'dvorak']);
    expect(ftsNormalize('e\u0301')).toBe('e');
  });

  it('lower-cases code point by code point, without final-sigma or Turkish rules', () => {
    expect(ftsNormalize('ΟΔΥΣΣΕΥΣ')).toBe('οδυσσευσ');
    expect(ftsNormalize('İ')).toBe('i');
    expect(ftsNormalize('ẞ')).toBe('ß');
  });

  it('treats Greek, Cyrillic and Korean like fts does', () => {
    expect(ftsTokens('Ἀθῆναι Москва Ёлка 한국어')).toEqual(['αθηναι', 'москва', 'елка', '한국어']);
  });

  it('splits on ASCII apostrophes and hyphens, keeps typographic apostrophes inside the token', () => {
    expect(ftsTokens("don't e-mail O'Brien")).toEqual(['don', 't', 'e', 'mail', 'o', 'brien']);
    expect(ftsTokens('it’s')).toEqual(['it’s']);
  });

  it('drops ASCII digits and the ignored punctuation', () => {
    expect(ftsTokens('abc123def v2 3.14 foo_bar a.b,c (x) [y] {z} <w> path/to\\file | ~ ` " @#$%^&*+=?!;:')).toEqual([
      'abc', 'def', 'v', 'foo', 'bar', 'a', 'b', 'c', 'x', 'y', 'z', 'w', 'path', 'to', 'file',
    ]);
  });

  it('keeps a CJK run as one token, and emoji and non-ASCII punctuation attached', () => {
    expect(ftsTokens('東京タワーに行きました。 😀emoji «quoted» — dash')).toEqual([
      '東京タワーに行きました。', '😀emoji', '«quoted»', '—', 'dash',
    ]);
  });

  it('splits only on tab, line feed, form feed, carriage return and space', () => {
    expect(ftsTokens('a\tb\nc\fd\re f')).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(ftsTokens('no\u00a0break ideo\u3000space vertical\vtab')).toEqual(['no\u00a0break', 'ideo\u3000space', 'vertical\vtab']);
  });

  it('gives no tokens for empty, blank or punctuation-only text', () => {
    for (const text of ['', '   ', '\n\t', '!!! ... --- 123']) expect(ftsTokens(text)).toEqual([]);
  });

  it('handles a 10 KB token and 10 KB of words', () => {
    expect(ftsTokens('x'.repeat(10_240))).toEqual(['x'.repeat(10_240)]);
    const words = 'Running dogs, '.repeat(800);
    expect(words.length).toBeGreaterThan(10_000);
    expect(ftsDocumentTerms(words)).toEqual(Array.from({ length: 800 }, () => ['run', 'dog']).flat());
  });
});

describe('porterStem', () => {
  it('gives Snowball porter stems', () => {
    expect(['running', 'runs', 'ran', 'caresses', 'ponies', 'relational', 'generalization', 'skies', 'dying'].map(porterStem)).toEqual(
      ['run', 'run', 'ran', 'caress', 'poni', 'relat', 'gener', 'ski', 'dy'],
    );
  });

  it('stays right past its cache limit', () => {
    for (let i = 0; i < 70_000; i++) porterStem(`word${i}ing`);
    expect(porterStem('running')).toBe('run');
    expect(porterStem('word69999ing')).toBe('word69999');
  });
});

describe('ftsDocumentTerms and ftsQueryTerms', () => {
  it('drops stop words from documents before stemming', () => {
    expect(ftsDocumentTerms('The cats are running over the hills')).toEqual(['cat', 'run', 'hill']);
  });

  it('keeps stop words in queries, as fts does, and returns distinct terms', () => {
    expect(ftsQueryTerms('the THE cats cat running')).toEqual(['the', 'cat', 'run']);
  });
});

describe('extraTerms', () => {
  it('takes ASCII digit runs as written', () => {
    expect(extraTerms('v2 3.14 007 2024-05-01 abc123def')).toEqual(['2', '3', '14', '007', '2024', '05', '01', '123']);
  });

  it('reads full-width digits as digits, other scripts’ digits not', () => {
    expect(extraTerms('１２３ ٣٤')).toEqual(['123']);
  });

  it('gives CJK bigrams, and the character itself for a one-character run', () => {
    expect(extraTerms('東京タワー')).toEqual(['東京', '京タ', 'タワ', 'ワー']);
    expect(extraTerms('猫 と 犬')).toEqual(['猫', 'と', '犬']);
    expect(extraTerms('서울시')).toEqual(['서울', '울시']);
  });

  it('ends a run at CJK punctuation and at other scripts, and normalizes half-width katakana', () => {
    expect(extraTerms('日本、東京。abc中国')).toEqual(['日本', '東京', '中国']);
    expect(extraTerms('ｶﾞｷﾞ')).toEqual(['ガギ']);
  });

  it('counts bigrams over code points, astral Han included', () => {
    expect(extraTerms('𠮷野家')).toEqual(['𠮷野', '野家']);
  });

  it('gives nothing for Latin text or emoji', () => {
    expect(extraTerms('plain words 😀 é')).toEqual([]);
  });
});

describe('analyzeDocument', () => {
  it('counts terms over value and metadata together', () => {
    const doc = analyzeDocument({ title: 'Running late', body: ['runs', 'the end'] }, { tag: 'running' });
    expect(doc.terms).toEqual(new Map([['run', 3], ['late', 1], ['end', 1]]));
    expect(doc.length).toBe(5);
    expect(doc.extraTerms.size).toBe(0);
    expect(doc.extraLength).toBe(0);
  });

  it('puts numbers from strings and number leaves, and CJK bigrams, in the extra field', () => {
    const doc = analyzeDocument({ price: 12.5, big: 1e21, note: 'room 101 東京' }, { year: 2024 });
    expect(doc.extraTerms).toEqual(new Map([['12', 1], ['5', 1], ['1', 1], ['21', 1], ['101', 1], ['東京', 1], ['2024', 1]]));
    expect(doc.extraLength).toBe(7);
    expect(doc.terms).toEqual(new Map([['room', 1], ['東京', 1]]));
  });

  it('gives empty fields for an empty entry', () => {
    expect(analyzeDocument('', {})).toEqual({ terms: new Map(), length: 0, extraTerms: new Map(), extraLength: 0 });
  });

  it('handles a 10 KB CJK run', () => {
    const doc = analyzeDocument('漢字'.repeat(5_000), {});
    expect(doc.extraLength).toBe(9_999);
    expect(doc.extraTerms).toEqual(new Map([['漢字', 5_000], ['字漢', 4_999]]));
    expect(doc.length).toBe(1);
  });
});

describe('analyzeQuery', () => {
  it('gives no terms for whitespace or punctuation', () => {
    for (const query of ['', '   ', '?!', '"" -- ...']) expect(analyzeQuery(query)).toEqual({ terms: [], extraTerms: [] });
  });

  it('keeps stop words as terms (fts parity)', () => {
    expect(analyzeQuery('the and')).toEqual({ terms: ['the', 'and'], extraTerms: [] });
  });

  it('gives distinct extra terms for digits and CJK', () => {
    expect(analyzeQuery('room 101 101 東京 東京')).toEqual({ terms: ['room', '東京'], extraTerms: ['101', '東京'] });
  });
});

describe('scoreBm25', () => {
  const bm25 = (tf: number, df: number, n: number, length: number, averageLength: number) =>
    Math.log10((n - df + 0.5) / (df + 0.5) + 1) *
    ((tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * (length / averageLength))));

  const docs = new Map<string, DocumentTerms>([
    ['a', analyzeDocument('cats and dogs and cats', {})], // cat x2, dog: length 3
    ['b', analyzeDocument('dogs', { room: 'room 101' })], // dog, room: length 2; extra 101
    ['c', analyzeDocument('', {})], // no terms: still counts in N and the average length
  ]);

  it('uses fts’s formula with log base 10, over every document passed', () => {
    const scores = scoreBm25(analyzeQuery('cat dog'), docs);
    const averageLength = (3 + 2 + 0) / 3;
    expect(scores.get('a')).toBeCloseTo(bm25(2, 1, 3, 3, averageLength) + bm25(1, 2, 3, 3, averageLength), 12);
    expect(scores.get('b')).toBeCloseTo(bm25(1, 2, 3, 2, averageLength), 12);
    expect(scores.has('c')).toBe(false);
  });

  it('adds the extra field’s own BM25', () => {
    const scores = scoreBm25(analyzeQuery('room 101'), docs);
    const parity = bm25(1, 1, 3, 2, 5 / 3);
    const extra = bm25(1, 1, 3, 1, 1 / 3);
    expect(scores).toEqual(new Map([['b', expect.closeTo(parity + extra, 12)]]));
  });

  it('counts a repeated query term once', () => {
    const once = scoreBm25({ terms: ['cat'], extraTerms: [] }, docs);
    expect(scoreBm25({ terms: ['cat', 'cat'], extraTerms: [] }, docs)).toEqual(once);
  });

  it('returns nothing for a query without terms or without matches', () => {
    expect(scoreBm25(analyzeQuery('...'), docs).size).toBe(0);
    expect(scoreBm25(analyzeQuery('zebra'), docs).size).toBe(0);
  });

  it('reads the documents once, so a generator works', () => {
    function* live(): Generator<[string, DocumentTerms]> {
      yield* docs;
    }
    expect(scoreBm25(analyzeQuery('dog'), live())).toEqual(scoreBm25(analyzeQuery('dog'), docs));
  });
});
