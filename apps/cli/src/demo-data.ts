/**
 * The demo's memories: what a personal assistant agent would have learned about six people after a
 * few weeks. Readable on purpose (a newcomer reads them in the demo's output), deterministic (the demo's
 * searches find the same things every run), and varied enough to show what the store does: strings and
 * nested objects, metadata to filter on, some entries that expire, a few in other scripts and with
 * numbers that plain English tokenizers drop.
 */
import type { JsonObject, JsonValue } from '@ltm/core';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface DemoMemory {
  key: string;
  value: JsonValue;
  metadata: JsonObject;
  /** Set on short-lived memories (tool results, scratch notes). */
  ttlSeconds?: number;
}

interface Person {
  slug: string;
  name: string;
  city: string;
  drink: string;
  cuisine: string;
  allergy: string;
  hobby: string;
  language: string;
  relative: string;
  team: string;
}

export const DEMO_PEOPLE: readonly Person[] = [
  { slug: 'maria', name: 'María José', city: 'Lisbon', drink: 'oat milk flat white', cuisine: 'Portuguese seafood', allergy: 'shellfish', hobby: 'trail running', language: 'Python', relative: 'daughter Inês', team: 'data science' },
  { slug: 'kenji', name: 'Kenji Tanaka', city: 'Osaka', drink: 'genmaicha', cuisine: 'Korean barbecue', allergy: 'peanuts', hobby: 'bouldering', language: 'Rust', relative: 'brother Daiki', team: 'platform' },
  { slug: 'amara', name: 'Amara Okafor', city: 'Lagos', drink: 'hibiscus tea', cuisine: 'Lebanese', allergy: 'gluten', hobby: 'jazz piano', language: 'TypeScript', relative: 'mother Ngozi', team: 'mobile' },
  { slug: 'soren', name: 'Søren Lindqvist', city: 'Copenhagen', drink: 'double espresso', cuisine: 'vegetarian', allergy: 'tree nuts', hobby: 'sailing', language: 'Go', relative: 'partner Freja', team: 'infrastructure' },
  { slug: 'zoe', name: 'Zoë Dubois', city: 'Montréal', drink: 'chai latte', cuisine: 'Ethiopian', allergy: 'lactose', hobby: 'pottery', language: 'Kotlin', relative: 'son Élie', team: 'design' },
  { slug: 'li', name: 'Li Wei', city: 'Shanghai', drink: 'jasmine tea', cuisine: 'Sichuan', allergy: 'sesame', hobby: 'astrophotography', language: 'Java', relative: 'grandmother 王芳', team: 'research' },
];

const PROJECTS = ['checkout redesign', 'data warehouse migration', 'mobile app launch', 'pricing experiment', 'support chatbot', 'API v2 rollout', 'onboarding revamp', 'quarterly planning'];
const TOOLS = ['VS Code', 'Docker', 'Kubernetes', 'Terraform', 'GitHub Actions', 'Postgres', 'DuckDB', 'Grafana', 'Sentry', 'Linear', 'Figma', 'Notion'];
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const FAILURES = ['connection refused on port 5432', 'TLS handshake timeout', 'out of memory in the build step', 'rate limited (HTTP 429)', 'a flaky checkout test', 'disk quota exceeded'];
const SERVICES = ['payments-api', 'search-indexer', 'web-frontend', 'auth-service', 'etl-nightly', 'notification-worker'];
const WEATHER = ['sunny, 24°C', 'light rain, 14°C', 'overcast, 9°C', 'thunderstorms, 28°C', 'snow showers, -2°C', 'windy, 17°C'];
const BOOKS = ['Designing Data-Intensive Applications', 'Project Hail Mary', 'The Left Hand of Darkness', 'Klara and the Sun', 'The Three-Body Problem', 'Educated'];

/** Memories in other scripts and with numbers, keyed so the demo can show them. */
const MULTILINGUAL: readonly [string, string, string][] = [
  ['kenji', 'meeting', '来週の火曜日、大阪オフィスで設計レビューの会議があります。'],
  ['li', 'family', '奶奶王芳的生日是十月十二日，她喜欢茉莉花茶。'],
  ['li', 'budget', '项目预算为 120000 元，需要在三月底前完成。'],
  ['maria', 'order', 'Encomenda nº 48213 da Fnac chega na quinta-feira; o código de recolha é 7719.'],
  ['zoe', 'note', 'Réunion avec l’équipe design à 14 h : présenter les maquettes v3.2 de l’écran d’accueil.'],
  ['soren', 'trip', 'Færgen til Bornholm afgår kl. 08:30 fra Køge; billetnummer 55-2024-118.'],
];

/** `count` memories (at least the fixed multilingual ones), the same list every run. */
export function generateDemoMemories(count = 300): DemoMemory[] {
  const rng = xoroshiro128plus(2024);
  const int = (min: number, max: number): number => uniformInt(rng, min, max);
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T;
  const seen = new Map<string, number>();
  const keyFor = (person: Person, type: string, topic: string): string => {
    const base = `${person.slug}:${type}:${topic}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  };
  const memories: DemoMemory[] = MULTILINGUAL.map(([slug, topic, text]) => {
    const person = DEMO_PEOPLE.find((p) => p.slug === slug) as Person;
    return { key: keyFor(person, 'fact', topic), value: text, metadata: meta(person, 'fact', topic, 3, ['multilingual']) };
  });

  // Everyone's core preferences first, so the demo can always retrieve them by a predictable key.
  for (const p of DEMO_PEOPLE) {
    const first = p.name.split(' ')[0] ?? p.name;
    memories.push(
      { key: keyFor(p, 'preference', 'coffee'), value: `${first} drinks ${withArticle(p.drink)} every morning and prefers it without sugar.`, metadata: meta(p, 'preference', 'food', 3, ['drinks']) },
      { key: keyFor(p, 'preference', 'food'), value: `${first} loves ${p.cuisine} food and is allergic to ${p.allergy}; always check menus before booking.`, metadata: meta(p, 'preference', 'food', 5, ['allergy', 'restaurants']) },
      { key: keyFor(p, 'fact', 'travel'), value: `${first} has a flight from ${p.city} to ${pick(['Lisbon', 'Berlin', 'Tokyo', 'Nairobi', 'Toronto', 'Singapore'].filter((c) => c !== p.city))} on ${pick(MONTHS)} ${int(1, 28)}; prefers an aisle seat.`, metadata: meta(p, 'fact', 'travel', 4, ['travel']) },
      { key: keyFor(p, 'preference', 'communication'), value: { channel: pick(['Slack', 'email', 'phone']), tone: pick(['short bullet points', 'detailed explanations', 'casual and friendly']), quietHours: `${int(19, 22)}:00-${int(6, 9)}:00`, timezone: p.city }, metadata: meta(p, 'preference', 'communication', 4, ['style']) },
    );
  }

  while (memories.length < count) {
    const p = pick(DEMO_PEOPLE);
    const first = p.name.split(' ')[0] ?? p.name;
    const kind = int(0, 9);
    if (kind <= 2) {
      const facts: [string, string, number][] = [
        ['family', `${first}'s ${p.relative} has a birthday on ${pick(MONTHS)} ${int(1, 28)}; they'd like a book like "${pick(BOOKS)}".`, 4],
        ['hobby', `${first} took up ${p.hobby} and trains ${int(2, 4)} times a week, usually on ${pick(WEEKDAYS)}.`, 2],
        ['work', `${first} works on the ${p.team} team, mostly in ${p.language}, and is leading the ${pick(PROJECTS)}.`, 3],
        ['travel', `${first} is going to ${pick(['Lisbon', 'Berlin', 'Tokyo', 'Nairobi', 'Toronto', 'Singapore'])} on ${pick(MONTHS)} ${int(1, 28)} for ${int(2, 9)} days; wants an aisle seat.`, 4],
        ['reading', `${first} is reading "${pick(BOOKS)}" and wants a one-paragraph summary of each chapter.`, 2],
        ['health', `${first} runs ${int(3, 15)} km before work and aims for ${int(7, 8)} hours of sleep.`, 2],
      ];
      const [topic, text, importance] = pick(facts);
      memories.push({ key: keyFor(p, 'fact', topic), value: text, metadata: meta(p, 'fact', topic, importance, [topic]) });
    } else if (kind <= 5) {
      const service = pick(SERVICES);
      const ok = int(0, 2) > 0;
      const results: [string, JsonValue, string[]][] = [
        ['deploy', { tool: 'deploy', service, environment: pick(['staging', 'production']), status: ok ? 'succeeded' : 'failed', durationSeconds: int(40, 900), ...(ok ? {} : { error: pick(FAILURES) }) }, ['deploy', ok ? 'ok' : 'failed']],
        ['weather', { tool: 'weather', location: p.city, forecast: pick(WEATHER), checkedFor: `${first}'s commute` }, ['weather']],
        ['search', { tool: 'web_search', query: `${p.language} ${pick(['async errors', 'connection pooling', 'memory leak', 'unit testing'])}`, topResult: `${pick(TOOLS)} docs: ${pick(['troubleshooting guide', 'best practices', 'migration notes'])}`, results: int(3, 10) }, ['web_search']],
        ['calendar', { tool: 'calendar', action: pick(['created', 'moved', 'cancelled']), event: `${pick(PROJECTS)} sync`, when: `${pick(WEEKDAYS)} ${int(9, 17)}:${pick(['00', '30'])}`, attendees: int(2, 8) }, ['calendar']],
      ];
      const [topic, value, tags] = pick(results);
      // Tool output goes stale: keep it a day (a week for calendar changes).
      memories.push({ key: keyFor(p, 'tool_result', topic), value, metadata: meta(p, 'tool_result', topic, ok ? 1 : 3, tags), ttlSeconds: topic === 'calendar' ? 7 * 86400 : 86400 });
    } else if (kind <= 8) {
      const project = pick(PROJECTS);
      const status = pick(['open', 'in progress', 'blocked', 'done']);
      memories.push({
        key: keyFor(p, 'task', slugify(project)),
        value: {
          task: `${pick(['Draft', 'Review', 'Finish', 'Plan'])} the ${project} ${pick(['proposal', 'rollout plan', 'retro notes', 'budget'])}`,
          status,
          due: `2025-${pad(int(1, 12))}-${pad(int(1, 28))}`,
          steps: [`ask ${pick(DEMO_PEOPLE).name} for input`, `check ${pick(TOOLS)}`, 'send a summary'],
        },
        metadata: meta(p, 'task', 'work', status === 'blocked' ? 5 : int(2, 5), ['task', status.replace(' ', '-')]),
      });
    } else {
      const project = pick(PROJECTS);
      memories.push({
        key: keyFor(p, 'summary', slugify(project)),
        value: `Talked with ${first} about the ${project}. They are worried about ${pick(FAILURES)} and asked for a plan by ${pick(WEEKDAYS)}. Agreed to compare ${pick(TOOLS)} with ${pick(TOOLS)}.`,
        metadata: meta(p, 'summary', 'work', int(2, 4), ['conversation']),
        ...(int(0, 3) === 0 ? { ttlSeconds: 30 * 86400 } : {}),
      });
    }
  }
  return memories.slice(0, Math.max(count, MULTILINGUAL.length));
}

function meta(person: Person, type: string, topic: string, importance: number, tags: string[]): JsonObject {
  return { type, user: person.slug, topic, importance, tags };
}

function slugify(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
