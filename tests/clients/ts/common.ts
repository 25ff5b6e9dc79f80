// What both walks share: where the server is, the data tests/test_sdk.py uses, and the checks
// that turn any surprise into a clear message and a non-zero exit.

import { readFileSync } from "node:fs";
import { basename } from "node:path";

/** The server's base URL: the first argument, else INFOVIEW_BASE_URL. */
export function baseUrl(): string {
  const url = process.argv[2] ?? process.env.INFOVIEW_BASE_URL;
  if (!url) {
    throw new WalkError("usage: node <walk>.js <base-url>  (or set INFOVIEW_BASE_URL)");
  }
  return url.replace(/\/+$/, "");
}

/** The contact file to upload (a LinkedIn Connections.csv export). */
export function contactsFile(): { name: string; text: string } {
  const path =
    process.env.INFOVIEW_CONTACTS_FILE ?? "tests/data/contacts/linkedin_connections.csv";
  return { name: basename(path), text: readFileSync(path, "utf-8") };
}

export class WalkError extends Error {}

/** Fail the walk unless `condition` holds. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) {
    throw new WalkError(message);
  }
}

export function checkEqual<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

/** What both clients answer: the parsed body (or the parsed error) and the raw response. */
interface Answer<T> {
  data?: T | undefined;
  error?: unknown;
  response: Response;
}

/** The body of an answer that must have `status`; anything else ends the walk. */
export function ok<T>(what: string, status: number, answer: Answer<T>): NonNullable<T> {
  const got = answer.response.status;
  if (got !== status || answer.data === undefined || answer.data === null) {
    const body = answer.error === undefined ? answer.data : answer.error;
    throw new WalkError(
      `${what}: expected ${status}, got ${got} from ${answer.response.url}\n` +
        JSON.stringify(body, null, 2),
    );
  }
  return answer.data;
}

/** A status that must be `status`, whatever the body. */
export function expectStatus(what: string, status: number, response: Response): void {
  check(
    response.status === status,
    `${what}: expected ${status}, got ${response.status} from ${response.url}`,
  );
}

/** Run the walk; print what went wrong and exit 1 if anything did. */
export function main(name: string, walk: () => Promise<void>): void {
  walk().then(
    () => {
      console.log(`${name}: the whole workflow passed`);
    },
    (error: unknown) => {
      const message =
        error instanceof WalkError
          ? error.message
          : error instanceof Error
            ? `${error.stack ?? error.message}${error.cause ? `\ncaused by: ${String(error.cause)}` : ""}`
            : String(error);
      console.error(`${name}: FAILED\n${message}`);
      process.exit(1);
    },
  );
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Math.random().toString(16).slice(2, 12)}@example.com`;
}

/** Same instant, whatever the spelling of the offset (Z or +00:00). */
export function sameInstant(a: string | null | undefined, b: Date): boolean {
  return typeof a === "string" && Date.parse(a) === b.getTime();
}

// The data tests/test_sdk.py walks with.

export const PASSWORD = "correct horse battery";

export const INTERVIEWEE = {
  full_name: "Dana Reyes",
  email: "dana@example.com",
  organization: "Northwind Analytics",
  title: "Data Engineer",
  career_field: "data engineering",
  tags: ["data"],
};

export const REFERRER = { full_name: "Sam Ortiz", email: "sam@example.com" };

export const CHECKLIST = {
  research: { done: true, note: "Read their engineering blog." },
  website: { done: true },
  self_assessment: { done: true },
  opening_statement: {
    done: true,
    text: "I build reporting tools and want to learn how data teams work.",
  },
};

export const REQUEST_LETTER = {
  subject: "A short conversation about data engineering?",
  body: "Sam Ortiz suggested I ask you about your work. Could we talk for 30 minutes?",
};

export const THANK_YOU_LETTER = {
  subject: "Thank you",
  body: "Thank you for your time today; your advice on data modelling was very helpful.",
};

export const REPORT_BACK_LETTER = {
  subject: "I talked to Dana",
  body: "Thanks for putting me in touch with Dana; we had a great conversation.",
};

/** Scheduled a few minutes ago: `held` needs a scheduled time that is not in the future. */
export function fiveMinutesAgo(): Date {
  const at = new Date(Date.now() - 5 * 60 * 1000);
  at.setMilliseconds(0);
  return at;
}
