/**
 * The bench workload's data: what an assistant agent remembers over months of use. Facts learned in
 * conversations, preferences, tool outputs, conversation summaries and task notes, for a few hundred
 * users, as plain strings and as nested objects, with the metadata agents filter on. Pools are large
 * enough that term frequencies look like real text (many rare words, a few common ones), and a fixed
 * seed makes every run, and both sides of a run, see identical data.
 */
import type { JsonObject, JsonValue } from '@ltm/core';
import { Random } from './random.js';

export interface Memory {
  key: string;
  value: JsonValue;
  metadata: JsonObject;
}

export const DEFAULT_SEED = 20241224;

const FIRST_NAMES = [
  'Ana', 'Ben', 'Chloé', 'Dmitri', 'Elif', 'Farah', 'Gustavo', 'Hana', 'Ines', 'Jonas', 'Kwame', 'Laura', 'Mateo', 'Nadia',
  'Oskar', 'Priya', 'Quentin', 'Rosa', 'Søren', 'Tomás', 'Uma', 'Viktor', 'Wen', 'Ximena', 'Yusuf', 'Zoë', 'Amara', 'Björn',
  'Camille', 'Diego', 'Emeka', 'François', 'Greta', 'Hiroshi', 'Ingrid', 'Jamal', 'Keiko', 'Lukas', 'Małgorzata', 'Nikolai',
  'Olivia', 'Pedro', 'Rahul', 'Sofia', 'Thabo', 'Valentina', 'William', 'Yara', 'Aiko', 'Bilal', 'Carmen', 'Daniel', 'Eva',
  'Felix', 'Giulia', 'Henrik', 'Isabel', 'Jun', 'Kateryna', 'Leila', 'Marcus', 'Noor', 'Omar', 'Paula', 'Renée', 'Sanjay',
];
const SURNAMES = [
  'Silva', 'Müller', 'García', 'Kowalski', 'Nguyen', 'Okafor', 'Rossi', 'Tanaka', 'Johansson', 'Petrov', 'Haddad', 'Costa',
  'Dubois', 'Schmidt', 'Yilmaz', 'Fernández', 'Lindqvist', 'Moreau', 'Novak', 'Papadopoulos', 'Sato', 'Chen', 'Khan', 'Ivanova',
  'Almeida', 'Bauer', 'Larsen', 'Mendoza', 'Osei', 'Park', 'Reyes', 'Weber', 'Zhang', 'Andersen', 'Byrne', 'Castillo',
];
const CITIES = [
  'Lisbon', 'Porto', 'Berlin', 'Munich', 'Kraków', 'Warsaw', 'Madrid', 'Barcelona', 'Valencia', 'Paris', 'Lyon', 'Marseille',
  'Amsterdam', 'Rotterdam', 'Copenhagen', 'Stockholm', 'Oslo', 'Helsinki', 'Vienna', 'Zürich', 'Geneva', 'Milan', 'Rome',
  'Naples', 'Athens', 'Istanbul', 'Cairo', 'Nairobi', 'Lagos', 'Accra', 'Cape Town', 'Dubai', 'Mumbai', 'Bangalore', 'Delhi',
  'Singapore', 'Bangkok', 'Hanoi', 'Tokyo', 'Osaka', 'Kyoto', 'Seoul', 'Shanghai', 'Taipei', 'Sydney', 'Melbourne', 'Auckland',
  'Toronto', 'Montréal', 'Vancouver', 'Seattle', 'Portland', 'San Francisco', 'Austin', 'Chicago', 'Boston', 'New York',
  'Mexico City', 'Bogotá', 'Lima', 'Santiago', 'Buenos Aires', 'São Paulo', 'Rio de Janeiro', 'Reykjavík', 'Dublin', 'Edinburgh',
];
const DRINKS = [
  'oat milk flat white', 'double espresso', 'green tea', 'sparkling water with lemon', 'decaf americano', 'chai latte',
  'cold brew with no sugar', 'matcha latte', 'rooibos tea', 'hot chocolate', 'cortado', 'peppermint tea', 'iced coffee',
];
const CUISINES = [
  'vegetarian', 'vegan', 'Japanese', 'Thai', 'Ethiopian', 'Lebanese', 'Mexican', 'Peruvian', 'Korean barbecue', 'Sichuan',
  'Neapolitan pizza', 'Portuguese seafood', 'Georgian', 'south Indian', 'Vietnamese pho', 'Turkish meze', 'Basque pintxos',
];
const ALLERGIES = ['peanuts', 'shellfish', 'gluten', 'lactose', 'tree nuts', 'sesame', 'eggs', 'soy', 'penicillin', 'cat dander', 'pollen'];
const HOBBIES = [
  'bouldering', 'trail running', 'sourdough baking', 'birdwatching', 'chess', 'watercolor painting', 'playing the cello',
  'woodworking', 'salsa dancing', 'long-distance cycling', 'sailing', 'pottery', 'learning Japanese', 'gardening', 'astrophotography',
  'board games', 'open-water swimming', 'jazz piano', 'fly fishing', 'knitting', 'rock climbing', 'home brewing', 'yoga',
];
const LANGUAGES = ['Python', 'TypeScript', 'Rust', 'Go', 'Kotlin', 'Java', 'C#', 'Elixir', 'Scala', 'Swift', 'Ruby', 'SQL', 'R', 'Julia'];
const TOOLS = [
  'VS Code', 'Neovim', 'JetBrains IDEs', 'Docker', 'Kubernetes', 'Terraform', 'GitHub Actions', 'Jira', 'Linear', 'Notion',
  'Figma', 'Slack', 'Postgres', 'DuckDB', 'Snowflake', 'dbt', 'Airflow', 'Grafana', 'Datadog', 'Sentry', 'pandas', 'Polars',
];
const PROJECTS = [
  'checkout redesign', 'data warehouse migration', 'mobile app launch', 'quarterly planning', 'onboarding revamp', 'pricing experiment',
  'search relevance tuning', 'SOC 2 audit', 'customer churn model', 'API v2 rollout', 'marketing site rebuild', 'billing refactor',
  'recommendation engine', 'support chatbot', 'inventory forecasting', 'accessibility review', 'latency reduction', 'GDPR cleanup',
];
const TEAMS = ['design', 'platform', 'data science', 'finance', 'legal', 'growth', 'infrastructure', 'mobile', 'support', 'sales', 'research'];
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const TIMES_OF_DAY = ['early morning', 'before 9am', 'around lunch', 'mid-afternoon', 'after 6pm', 'late evening', 'on weekends'];
const RELATIONS = ['daughter', 'son', 'partner', 'wife', 'husband', 'mother', 'father', 'sister', 'brother', 'best friend', 'manager', 'cofounder'];
const PETS = ['a border collie named Pixel', 'two cats, Miso and Tofu', 'a rescue greyhound', 'a parrot that whistles Bach', 'a very old tortoise', 'a labrador puppy'];
const TONES = ['short bullet points', 'detailed explanations with examples', 'a formal tone', 'a casual, friendly tone', 'answers in Portuguese', 'metric units', 'no emojis', 'code first, explanation after'];
const STATUSES = ['open', 'in progress', 'blocked', 'waiting on review', 'done'];
const TOPICS = ['food', 'travel', 'work', 'health', 'family', 'hobbies', 'finance', 'software', 'schedule', 'communication', 'shopping', 'learning'];
const SOURCES = ['chat', 'email', 'voice', 'calendar', 'tool', 'import'];
const SEARCH_ENGINES_RESULTS = [
  'official documentation', 'a Stack Overflow answer', 'a blog post from the maintainers', 'the release notes', 'a GitHub issue',
  'a conference talk transcript', 'a tutorial', 'the changelog', 'a benchmark write-up', 'a migration guide',
];
const ERRORS = [
  'connection refused on port 5432', 'out of memory while sorting', 'TLS handshake timeout', 'permission denied writing to /var/log',
  'rate limited (HTTP 429)', 'schema mismatch in column created_at', 'null pointer in payment webhook', 'disk quota exceeded',
  'flaky test in checkout suite', 'DNS resolution failed for the staging host', 'deadlock detected during migration',
];
const AIRLINES = ['TAP', 'Lufthansa', 'KLM', 'Iberia', 'Air France', 'SAS', 'Finnair', 'ANA', 'Qantas', 'Emirates', 'easyJet', 'Ryanair'];
const PRODUCTS = [
  'noise-cancelling headphones', 'standing desk', 'mechanical keyboard', 'espresso machine', 'e-reader', 'trail running shoes',
  'ergonomic chair', '4K monitor', 'rain jacket', 'robot vacuum', 'cast iron pan', 'carry-on suitcase', 'road bike helmet',
];
const BOOKS = [
  'Designing Data-Intensive Applications', 'The Pragmatic Programmer', 'Thinking, Fast and Slow', 'Project Hail Mary',
  'The Left Hand of Darkness', 'Sapiens', 'Educated', 'The Three-Body Problem', 'Klara and the Sun', 'Atomic Habits', 'Dune',
];
const ADJECTIVES = ['quick', 'thorough', 'rough', 'final', 'updated', 'tentative', 'detailed', 'short', 'revised', 'first'];
const NOUNS = [
  'invoice', 'contract', 'proposal', 'dashboard', 'report', 'roadmap', 'budget', 'deadline', 'spreadsheet', 'presentation', 'prototype',
  'warehouse', 'pipeline', 'schema', 'migration', 'incident', 'outage', 'release', 'sprint', 'backlog', 'ticket', 'workshop', 'offsite',
  'interview', 'candidate', 'vendor', 'supplier', 'shipment', 'refund', 'subscription', 'license', 'renewal', 'audit', 'policy',
  'apartment', 'lease', 'landlord', 'mortgage', 'insurance', 'dentist', 'appointment', 'prescription', 'vaccine', 'gym', 'marathon',
  'recipe', 'dinner', 'picnic', 'wedding', 'anniversary', 'graduation', 'concert', 'exhibition', 'museum', 'festival', 'holiday',
  'garden', 'balcony', 'kitchen', 'bathroom', 'renovation', 'plumber', 'electrician', 'furniture', 'sofa', 'bookshelf', 'bicycle',
  'laptop', 'phone', 'tablet', 'router', 'printer', 'charger', 'backup', 'password', 'account', 'newsletter', 'podcast', 'playlist',
  'course', 'certificate', 'thesis', 'manuscript', 'chapter', 'grant', 'donation', 'volunteer', 'charity', 'neighbour', 'babysitter',
  'visa', 'passport', 'itinerary', 'hotel', 'hostel', 'ferry', 'train', 'layover', 'luggage', 'souvenir', 'translation', 'dialect',
];
const VERBS = [
  'review', 'reschedule', 'cancel', 'confirm', 'renew', 'negotiate', 'postpone', 'prioritise', 'delegate', 'summarise', 'archive',
  'compare', 'book', 'order', 'return', 'repair', 'replace', 'upgrade', 'install', 'document', 'translate', 'present', 'approve',
  'draft', 'sign', 'submit', 'track', 'investigate', 'escalate', 'celebrate', 'plan', 'organise', 'share', 'refactor', 'benchmark',
];
const MOODS = [
  'excited', 'anxious', 'relieved', 'frustrated', 'curious', 'sceptical', 'enthusiastic', 'exhausted', 'hopeful', 'impatient',
  'grateful', 'overwhelmed', 'confident', 'hesitant', 'surprised', 'disappointed', 'cheerful', 'stressed',
];
/** Syllables for the long tail of proper nouns (companies, repositories, products) real memories are full of. */
const SYLLABLES = [
  'bri', 'lan', 'kor', 'vex', 'tal', 'mo', 'qui', 'nex', 'sol', 'ar', 'ven', 'dra', 'lu', 'mi', 'zen', 'tra', 'pol', 'ka', 'ri', 'on',
  'vel', 'ora', 'fin', 'ix', 'cal', 'do', 'ne', 'sta', 'gro', 'ha', 'ber', 'tos', 'li', 'um', 'pa', 'ry', 'sen', 'tic', 'ma', 'go',
];
const COMPANY_SUFFIXES = ['Labs', 'Systems', 'Health', 'Logistics', 'Studio', 'Bank', 'Analytics', 'Foods', 'Energy', 'Robotics', 'AI', 'Group'];

/** A few memories in other scripts, so the data exercises what English-only tokenizers get wrong. */
const CJK_NOTES = [
  '東京の会議は来週の火曜日に変更されました。',
  '用户喜欢在周末去公园跑步，通常早上七点出发。',
  '佐藤さんは辛い料理が苦手です。',
  '下周三下午三点和设计团队开会，讨论新版首页。',
  '彼女の誕生日は十月十二日です。プレゼントは本がいい。',
  '项目预算为十二万元，需要在三月底前完成。',
  '서울 출장은 다음 달 첫째 주로 잡혀 있습니다.',
];

interface Draft {
  type: string;
  topic: string;
  slug: string;
  value: JsonValue;
  importance: number;
  tags: string[];
}

/** Produces memories one at a time, deterministically from its seed. */
export class MemoryGenerator {
  readonly #random: Random;
  readonly #users: string[];
  readonly #names: string[];
  #sequence = 0;

  constructor(seed = DEFAULT_SEED, userCount = 400) {
    const r = new Random(seed);
    this.#random = r;
    const users = new Set<string>();
    while (users.size < userCount) users.add(`${r.pick(FIRST_NAMES)} ${r.pick(SURNAMES)}`);
    this.#users = [...users];
    const names = new Set<string>();
    while (names.size < 3000) {
      const word = Array.from({ length: r.int(2, 3) }, () => r.pick(SYLLABLES)).join('');
      names.add(word.charAt(0).toUpperCase() + word.slice(1));
    }
    this.#names = [...names];
  }

  /** A proper noun, a few of them common and most rare, the way names recur in real notes. */
  #name(): string {
    return this.#names[Math.floor(this.#names.length * this.#random.float() ** 3)] as string;
  }

  #company(): string {
    return `${this.#name()} ${this.#random.pick(COMPANY_SUFFIXES)}`;
  }

  next(): Memory {
    const r = this.#random;
    const user = r.pick(this.#users);
    const draft = this.#draft(user);
    this.#sequence += 1;
    const key = `${userSlug(user)}:${draft.type}:${draft.slug}:${String(this.#sequence).padStart(7, '0')}`;
    const metadata: JsonObject = {
      type: draft.type,
      user: userSlug(user),
      topic: draft.topic,
      importance: draft.importance,
      tags: draft.tags,
      source: draft.type === 'tool_result' ? 'tool' : r.pick(SOURCES),
      session: `s-${r.int(1, 5000)}`,
    };
    if (r.chance(0.3)) metadata['confidence'] = Math.round(r.float() * 100) / 100;
    return { key, value: draft.value, metadata };
  }

  /** A new value for an existing memory, as when an agent learns that something changed. */
  revise(memory: Memory): Memory {
    const user = String(memory.metadata['user'] ?? 'someone');
    const draft = this.#draft(user);
    return { key: memory.key, value: draft.value, metadata: { ...memory.metadata, revised: true, importance: draft.importance } };
  }

  #draft(user: string): Draft {
    const r = this.#random;
    const roll = r.float();
    if (roll < 0.22) return this.#preference(user);
    if (roll < 0.36) return this.#fact(user);
    if (roll < 0.48) return this.#observation(user);
    if (roll < 0.68) return this.#toolResult(user);
    if (roll < 0.82) return this.#summary(user);
    if (roll < 0.97) return this.#task(user);
    return { type: 'fact', topic: 'schedule', slug: 'note', value: r.pick(CJK_NOTES), importance: r.int(1, 5), tags: ['multilingual'] };
  }

  #preference(user: string): Draft {
    const r = this.#random;
    const first = user.split(' ')[0] ?? user;
    const options: [string, string, string][] = [
      ['food', 'coffee', `${first} prefers a ${r.pick(DRINKS)} ${r.pick(TIMES_OF_DAY)} and dislikes anything too sweet.`],
      ['food', 'cuisine', `${first} loves ${r.pick(CUISINES)} food; suggest ${r.pick(CUISINES)} places when booking dinners in ${r.pick(CITIES)}.`],
      ['health', 'allergy', `${first} is allergic to ${r.pick(ALLERGIES)}. Always check menus and ingredient lists before recommending anything.`],
      ['communication', 'style', `${first} wants responses in ${r.pick(TONES)}, and prefers ${r.pick(TONES)} for status updates.`],
      ['schedule', 'meetings', `${first} avoids meetings on ${r.pick(WEEKDAYS)} and prefers calls ${r.pick(TIMES_OF_DAY)} (${r.pick(CITIES)} time).`],
      ['software', 'stack', `${first} writes mostly ${r.pick(LANGUAGES)} and ${r.pick(LANGUAGES)}, uses ${r.pick(TOOLS)} daily and finds ${r.pick(TOOLS)} frustrating.`],
      ['travel', 'seat', `${first} books ${r.pick(AIRLINES)} when possible, wants an aisle seat, and never takes flights before ${r.int(6, 10)}am.`],
    ];
    const [topic, slug, text] = r.pick(options);
    const value: JsonValue = r.chance(0.35)
      ? { statement: text, strength: r.pick(['strong', 'mild', 'stated once']), learnedFrom: r.pick(SOURCES), since: `${r.int(2019, 2025)}-${pad(r.int(1, 12))}` }
      : text;
    return { type: 'preference', topic, slug, value, importance: r.int(2, 5), tags: [topic, slug] };
  }

  #fact(user: string): Draft {
    const r = this.#random;
    const first = user.split(' ')[0] ?? user;
    const options: [string, string, string][] = [
      ['family', 'relative', `${first}'s ${r.pick(RELATIONS)} ${r.pick(FIRST_NAMES)} moved to ${r.pick(CITIES)} in ${r.pick(MONTHS)} and starts a new job there.`],
      ['family', 'birthday', `${first}'s ${r.pick(RELATIONS)} has a birthday on ${r.pick(MONTHS)} ${r.int(1, 28)}; last year they liked the ${r.pick(PRODUCTS)} gift.`],
      ['hobbies', 'hobby', `${first} took up ${r.pick(HOBBIES)} this year and is training for an event in ${r.pick(CITIES)}.`],
      ['family', 'pet', `${first} has ${r.pick(PETS)} and needs pet-friendly hotels when travelling.`],
      ['work', 'role', `${first} leads the ${r.pick(TEAMS)} team and reports to ${r.pick(FIRST_NAMES)} ${r.pick(SURNAMES)} since ${r.pick(MONTHS)} ${r.int(2018, 2025)}.`],
      ['travel', 'trip', `${first} is flying ${r.pick(AIRLINES)} to ${r.pick(CITIES)} on ${r.pick(MONTHS)} ${r.int(1, 28)}, booking reference ${bookingRef(r)}, returning after ${r.int(2, 14)} days.`],
      ['learning', 'book', `${first} is reading "${r.pick(BOOKS)}" and wants a short summary of each chapter once finished.`],
      ['finance', 'budget', `${first} set a monthly budget of ${r.int(2, 90) * 50} EUR for ${r.pick(['groceries', 'eating out', 'travel', 'subscriptions', 'books'])}.`],
      ['health', 'routine', `${first} runs ${r.int(3, 21)} km on ${r.pick(WEEKDAYS)}s and tracks sleep; aims for ${r.int(6, 9)} hours a night.`],
    ];
    const [topic, slug, text] = r.pick(options);
    return { type: 'fact', topic, slug, value: text, importance: r.int(1, 5), tags: [topic, slug, ...(r.chance(0.3) ? ['verified'] : [])] };
  }

  #observation(user: string): Draft {
    const r = this.#random;
    const first = user.split(' ')[0] ?? user;
    const noun = r.pick(NOUNS);
    const sentences = [
      `${first} was ${r.pick(MOODS)} about the ${noun} with ${this.#company()}.`,
      `They need to ${r.pick(VERBS)} the ${r.pick(NOUNS)} before ${r.pick(MONTHS)} ${r.int(1, 28)} and ${r.pick(VERBS)} the ${r.pick(NOUNS)} afterwards.`,
      `${this.#name()} from ${this.#company()} is the contact for the ${r.pick(NOUNS)}.`,
      `Asked me to remind them to ${r.pick(VERBS)} the ${r.pick(NOUNS)} ${r.pick(TIMES_OF_DAY)}.`,
      `The ${r.pick(NOUNS)} costs about ${r.int(15, 4000)} EUR and the ${r.pick(NOUNS)} is ${r.pick(['late', 'fine', 'missing', 'booked', 'broken', 'confirmed'])}.`,
      `Mentioned the repository ${this.#name().toLowerCase()}-${r.pick(['api', 'web', 'etl', 'infra', 'docs', 'sdk'])} when talking about the ${r.pick(PROJECTS)}.`,
    ];
    const text = r.sample(sentences, r.int(2, 4)).join(' ');
    return { type: 'fact', topic: r.pick(TOPICS), slug: slugify(noun), value: text, importance: r.int(1, 5), tags: ['observation', noun] };
  }

  #toolResult(user: string): Draft {
    const r = this.#random;
    const kind = r.int(0, 4);
    if (kind === 0) {
      const subject = `${r.pick(LANGUAGES)} ${r.pick(['async error handling', 'memory leak', 'dataframe joins', 'connection pooling', 'unit testing', 'packaging', 'date parsing'])}`;
      return {
        type: 'tool_result', topic: 'software', slug: 'web_search', importance: r.int(1, 3), tags: ['web_search', 'software'],
        value: {
          tool: 'web_search',
          query: subject,
          results: Array.from({ length: r.int(2, 4) }, (_, i) => ({
            rank: i + 1,
            title: `${subject}: ${r.pick(SEARCH_ENGINES_RESULTS)}`,
            snippet: `Explains ${subject} with ${r.pick(TOOLS)}; the fix for "${r.pick(ERRORS)}" is covered in section ${r.int(2, 9)}.`,
          })),
          tookMs: r.int(80, 2400),
        },
      };
    }
    if (kind === 1) {
      const city = r.pick(CITIES);
      return {
        type: 'tool_result', topic: 'travel', slug: 'weather', importance: 1, tags: ['weather', 'travel'],
        value: {
          tool: 'weather',
          location: city,
          forecast: Array.from({ length: 3 }, () => ({
            day: r.pick(WEEKDAYS),
            highC: r.int(-5, 38),
            lowC: r.int(-12, 24),
            conditions: r.pick(['sunny', 'light rain', 'overcast', 'thunderstorms', 'snow showers', 'windy', 'fog in the morning']),
          })),
          note: `Checked for ${user.split(' ')[0]}'s trip to ${city}.`,
        },
      };
    }
    if (kind === 2) {
      const table = r.pick(['orders', 'customers', 'invoices', 'events', 'subscriptions', 'tickets']);
      return {
        type: 'tool_result', topic: 'work', slug: 'sql_query', importance: r.int(1, 4), tags: ['sql', table],
        value: {
          tool: 'sql',
          database: r.pick(['Postgres', 'DuckDB', 'Snowflake', 'MySQL']),
          query: `SELECT status, count(*) FROM ${table} WHERE created_at >= '2025-${pad(r.int(1, 12))}-01' GROUP BY status`,
          rows: r.int(0, 120000),
          summary: `${r.int(2, 40)}% of ${table} are ${r.pick(['pending', 'overdue', 'refunded', 'churned', 'escalated'])}, up from last month.`,
        },
      };
    }
    if (kind === 3) {
      return {
        type: 'tool_result', topic: 'schedule', slug: 'calendar', importance: r.int(2, 4), tags: ['calendar'],
        value: {
          tool: 'calendar',
          action: r.pick(['created', 'moved', 'cancelled', 'accepted']),
          event: `${r.pick(PROJECTS)} sync with the ${r.pick(TEAMS)} team`,
          when: `${r.pick(WEEKDAYS)} ${r.pick(MONTHS)} ${r.int(1, 28)}, ${r.int(8, 18)}:${r.pick(['00', '15', '30', '45'])}`,
          attendees: r.sample(FIRST_NAMES, r.int(2, 5)),
        },
      };
    }
    const product = r.pick(PRODUCTS);
    return {
      type: 'tool_result', topic: 'shopping', slug: 'price_check', importance: r.int(1, 3), tags: ['shopping', 'price'],
      value: {
        tool: 'price_check',
        product,
        offers: Array.from({ length: r.int(2, 3) }, () => ({ shop: r.pick(['Amazon', 'Fnac', 'MediaMarkt', 'Bol', 'Zalando', 'local store']), priceEur: r.int(20, 900) + 0.99 })),
        recommendation: `Wait for the ${r.pick(MONTHS)} sale; the ${product} dropped ${r.int(10, 35)}% last year.`,
      },
    };
  }

  #summary(user: string): Draft {
    const r = this.#random;
    const first = user.split(' ')[0] ?? user;
    const project = r.pick(PROJECTS);
    const sentences = [
      `Conversation with ${first} about the ${project}.`,
      `They are worried about ${r.pick(ERRORS)} and asked for a ${r.pick(ADJECTIVES)} plan by ${r.pick(WEEKDAYS)}.`,
      `Agreed to loop in ${r.pick(FIRST_NAMES)} from ${r.pick(TEAMS)} and to compare ${r.pick(TOOLS)} with ${r.pick(TOOLS)}.`,
      `${first} mentioned ${r.pick(['a vacation next month', 'a tight deadline', 'budget cuts', 'a new hire joining', 'an upcoming demo', 'a customer escalation'])} at ${this.#company()}.`,
      `Follow up on ${r.pick(MONTHS)} ${r.int(1, 28)}.`,
    ];
    const text = r.sample(sentences, r.int(3, 5)).join(' ');
    return { type: 'summary', topic: 'work', slug: slugify(project), value: text, importance: r.int(2, 5), tags: ['summary', slugify(project)] };
  }

  #task(user: string): Draft {
    const r = this.#random;
    const project = r.pick(PROJECTS);
    const steps = r.sample(
      [
        `draft the ${r.pick(ADJECTIVES)} proposal`,
        `review the ${r.pick(TOOLS)} setup`,
        `book a room in ${r.pick(CITIES)}`,
        `ask ${r.pick(FIRST_NAMES)} for the numbers`,
        `fix ${r.pick(ERRORS)}`,
        `send the recap to the ${r.pick(TEAMS)} team`,
        'update the roadmap',
        'write the release notes',
      ],
      r.int(2, 4),
    );
    const value: JsonValue = {
      task: `${project}: ${steps[0]}`,
      owner: user,
      status: r.pick(STATUSES),
      due: `2025-${pad(r.int(1, 12))}-${pad(r.int(1, 28))}`,
      steps: steps.map((step) => ({ step, done: r.chance(0.4) })),
      estimateHours: r.int(1, 40),
    };
    return { type: 'task', topic: 'work', slug: slugify(project), value, importance: r.int(1, 5), tags: ['task', r.pick(TEAMS)] };
  }
}

export function generateMemories(count: number, seed = DEFAULT_SEED): Memory[] {
  const generator = new MemoryGenerator(seed);
  return Array.from({ length: count }, () => generator.next());
}

/** What agents ask their memory: short, keyword-ish questions about the things above. */
export const SEARCH_QUERIES: readonly string[] = [
  'coffee preference', 'allergic to peanuts', 'flight to Lisbon', 'birthday gift ideas', 'vegetarian restaurants Berlin',
  'meeting with the design team', 'data warehouse migration status', 'connection refused postgres', 'budget for travel',
  'what is Ana reading', 'Python memory leak', 'weather in Tokyo this week', 'overdue invoices', 'checkout redesign follow up',
  'aisle seat airline', 'pet friendly hotels', 'trail running event', 'short bullet points tone', 'rate limited 429',
  'mechanical keyboard price', 'sourdough baking', 'reports to manager', 'release notes roadmap', 'sleep hours running',
  'Kubernetes Terraform setup', 'deadline customer escalation', 'SOC 2 audit tasks', 'Japanese food Osaka', 'moved to Stockholm new job',
  'cancelled calendar event', 'churn model summary', 'TypeScript async error handling', 'espresso machine sale',
];

/** Searches agents run with a metadata filter, often narrowing to one user or kind of memory. */
export function filteredSearches(users: readonly string[]): { query: string | undefined; filter: JsonObject }[] {
  const [a = 'ana-silva', b = 'ben-muller', c = 'chloe-garcia'] = users;
  return [
    { query: 'coffee', filter: { type: 'preference' } },
    { query: 'flight booking', filter: { topic: 'travel', importance: { $gte: 3 } } },
    { query: 'error', filter: { type: 'tool_result' } },
    { query: 'birthday', filter: { user: a } },
    { query: 'meeting team', filter: { user: { $in: [a, b, c] } } },
    { query: 'plan deadline', filter: { type: 'summary', importance: { $gte: 4 } } },
    { query: undefined, filter: { user: b, type: 'task' } },
    { query: 'allergic', filter: { type: { $ne: 'tool_result' }, confidence: { $exists: true } } },
  ];
}

export function userSlug(user: string): string {
  return slugify(user);
}

function slugify(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/ł/g, 'l')
    .replace(/ø/g, 'o')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function bookingRef(r: Random): string {
  const letters = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
  return Array.from({ length: 6 }, () => (r.chance(0.5) ? letters[r.int(0, letters.length - 1)] : String(r.int(2, 9)))).join('');
}
