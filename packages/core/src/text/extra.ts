/**
 * The extra field: what fts cannot find. Its tokenizer never touches the parity field, so a query without digits
 * or CJK characters has no extra terms and ranks exactly as fts does.
 *
 * The text is first normalized to NFKC, so full-width digits and half-width katakana match their usual forms.
 * Then:
 * - **numbers**: every maximal run of ASCII digits `[0-9]+` is a term, as written (`"007"` stays `007`, `3.14`
 *   gives `3` and `14`, `2024-05-01` gives `2024`, `05`, `01`). Digits of other scripts (e.g. Arabic-Indic) are
 *   not numbers here.
 * - **CJK**: every maximal run of letters and marks whose Unicode script extensions include Han, Hiragana,
 *   Katakana or Hangul (so `ー` and `々` belong to a run, while `、` and `。` end it) gives its overlapping
 *   character bigrams (`東京タワー` gives `東京 京タ タワ ワー`); a run of one character gives that character.
 *   So a one-character query finds only one-character runs.
 */

const DIGIT_RUN = /[0-9]+/g;
const NON_ASCII = /[^\x00-\x7f]/;
const CJK_RUN =
  /(?:(?=[\p{Script_Extensions=Han}\p{Script_Extensions=Hiragana}\p{Script_Extensions=Katakana}\p{Script_Extensions=Hangul}])[\p{L}\p{M}])+/gu;

/** The extra-field terms of a text, with repetitions, numbers first then CJK bigrams. */
export function extraTerms(text: string): string[] {
  // ASCII is its own NFKC form and holds no CJK letter: its digit runs are all (most metadata is ASCII).
  if (!NON_ASCII.test(text)) return text.match(DIGIT_RUN) ?? [];
  const normalized = text.normalize('NFKC');
  const terms: string[] = normalized.match(DIGIT_RUN) ?? [];
  for (const [run] of normalized.matchAll(CJK_RUN)) {
    const chars = Array.from(run);
    if (chars.length === 1) {
      terms.push(run);
      continue;
    }
    for (let i = 0; i + 1 < chars.length; i++) terms.push(chars[i]! + chars[i + 1]!);
  }
  return terms;
}
