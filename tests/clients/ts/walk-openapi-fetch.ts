// The whole workflow through openapi-fetch, typed by openapi-typescript from the app's document
// (generated/openapi-fetch/schema.ts, made at test time): the same steps and data as
// tests/test_sdk.py. Usage: node dist/walk-openapi-fetch.js <base-url>

import createClient from "openapi-fetch";

import {
  baseUrl,
  check,
  checkEqual,
  CHECKLIST,
  contactsFile,
  expectStatus,
  fiveMinutesAgo,
  INTERVIEWEE,
  main,
  ok,
  PASSWORD,
  REFERRER,
  REPORT_BACK_LETTER,
  REQUEST_LETTER,
  sameInstant,
  THANK_YOU_LETTER,
  uniqueEmail,
} from "./common.js";
import type { components, paths } from "./generated/openapi-fetch/schema.js";

type Schemas = components["schemas"];
type InterviewState = Schemas["InterviewState"];
type LetterKind = Schemas["LetterKind"];

type TransitionOperation = paths["/api/v1/interviews/{interview_id}/transitions"]["post"];
/** Every error body the transition may answer with (openapi-fetch does not split it by status). */
type TransitionErrorBody =
  TransitionOperation["responses"][Exclude<keyof TransitionOperation["responses"], 200>]["content"]["application/problem+json"];
/** The 409's body: a refused move. */
type Refusal = TransitionOperation["responses"][409]["content"]["application/problem+json"];
type RefusalCode = NonNullable<Refusal["errors"]>[number]["code"];

// The refusal codes are an enum in the document, so the type is a union of string literals,
// not `string`: this line does not compile if that is ever lost.
const refusalCodesAreLiterals: string extends RefusalCode ? never : true = true;

/** Narrow an error body to the 409's schema: the document says a 409 answers with it. */
function isRefusal(status: number, body: TransitionErrorBody): body is Refusal {
  return status === 409 && body.code === "transition_refused";
}

type Client = ReturnType<typeof createClient<paths>>;

async function logIn(base: string, prefix: string): Promise<{ client: Client; userId: string }> {
  const anonymous = createClient<paths>({ baseUrl: base });
  const email = uniqueEmail(prefix);
  const user = ok(
    "register",
    201,
    await anonymous.POST("/api/v1/auth/register", { body: { email, password: PASSWORD } }),
  );
  // The OAuth2 password form: openapi-fetch sends a urlencoded body when told the content type.
  const tokens = ok(
    "log in",
    200,
    await anonymous.POST("/api/v1/auth/token", {
      body: { username: email, password: PASSWORD },
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
  );
  const client = createClient<paths>({
    baseUrl: base,
    headers: { Authorization: `Bearer ${tokens.access_token}` },
  });
  return { client, userId: user.id };
}

async function uploadsAContactFile(base: string): Promise<void> {
  const { client } = await logIn(base, "ts-fetch-import");
  const upload = contactsFile();
  const result = ok(
    "import contacts",
    200,
    await client.POST("/api/v1/contacts/import", {
      // Work-around, not a document problem: openapi-typescript types every `format: binary`
      // as `string` (its CLI has no Blob option), so the file's text goes in `file` and this
      // serializer sends it as the multipart file part, with its name and type.
      body: { file: upload.text },
      bodySerializer(body) {
        const form = new FormData();
        const content = typeof body === "string" ? body : body.file;
        form.append("file", new Blob([content], { type: "text/csv" }), upload.name);
        return form;
      },
    }),
  );
  checkEqual(
    [result.format, result.created, result.error_count],
    ["linkedin", 4, 0],
    "import result (format, created, error_count)",
  );
  const page = ok("list contacts", 200, await client.GET("/api/v1/contacts"));
  checkEqual(
    page.data.map((contact) => contact.source).sort(),
    ["linkedin", "linkedin", "linkedin", "linkedin"],
    "sources of the imported contacts",
  );
}

async function wholeWorkflow(base: string): Promise<void> {
  const { client, userId } = await logIn(base, "ts-fetch");
  const me = ok("me", 200, await client.GET("/api/v1/me"));
  checkEqual(me.id, userId, "me.id");

  const interviewee = ok(
    "create the interviewee",
    201,
    await client.POST("/api/v1/contacts", { body: INTERVIEWEE }),
  );
  const referrer = ok(
    "create the referrer",
    201,
    await client.POST("/api/v1/contacts", { body: REFERRER }),
  );
  const referral = ok(
    "create the referral",
    201,
    await client.POST("/api/v1/referrals", {
      body: { referrer_id: referrer.id, referred_id: interviewee.id, relationship: "colleague" },
    }),
  );

  const scheduledAt = fiveMinutesAgo();
  const interview = ok(
    "create the interview",
    201,
    await client.POST("/api/v1/interviews", {
      body: {
        contact_id: interviewee.id,
        referral_id: referral.id,
        mode: "video",
        scheduled_at: scheduledAt.toISOString(),
        duration_minutes: 30,
      },
    }),
  );
  checkEqual(interview.state, "request", "a new interview's state");
  check(
    sameInstant(interview.scheduled_at, scheduledAt),
    `scheduled_at: expected ${scheduledAt.toISOString()}, got ${interview.scheduled_at}`,
  );
  const path = { interview_id: interview.id };

  // Too early: no request letter sent, no checklist. The move is refused with every unmet
  // requirement, each by its code, read through the 409's own type.
  const early = await client.POST("/api/v1/interviews/{interview_id}/transitions", {
    params: { path },
    body: { to: "prepared" },
  });
  expectStatus("a move to prepared before the letter and the checklist", 409, early.response);
  check(early.error !== undefined, "the refused move has no problem body");
  check(isRefusal(early.response.status, early.error), "the 409 is not transition_refused");
  const refusal: Refusal = early.error;
  const codes: RefusalCode[] = (refusal.errors ?? []).map((error) => error.code);
  const expectedCodes: RefusalCode[] = ["checklist_incomplete", "request_letter_not_sent"];
  checkEqual([...codes].sort(), expectedCodes, "the refused move's codes");
  checkEqual(refusal.current_state, "request", "current_state of the refused move");
  check(refusalCodesAreLiterals, "unreachable");

  async function move(to: InterviewState): Promise<Schemas["InterviewPublic"]> {
    // With the interview's current ETag, as a careful client would.
    const current = await client.GET("/api/v1/interviews/{interview_id}", { params: { path } });
    ok(`read the interview before moving to ${to}`, 200, current);
    const etag = current.response.headers.get("etag");
    check(etag !== null, "GET /interviews/{id} sent no ETag");
    const moved = ok(
      `move to ${to}`,
      200,
      await client.POST("/api/v1/interviews/{interview_id}/transitions", {
        params: { path, header: { "if-match": etag } },
        body: { to },
      }),
    );
    checkEqual(moved.state, to, "state after the move");
    return moved;
  }

  async function sendLetter(
    kind: LetterKind,
    recipientId: string,
    letter: { subject: string; body: string },
  ): Promise<void> {
    const draft = ok(
      `draft the ${kind} letter`,
      201,
      await client.POST("/api/v1/letters", {
        body: { kind, recipient_id: recipientId, interview_id: interview.id, ...letter },
      }),
    );
    checkEqual(draft.status, "draft", `the ${kind} letter's status`);
    const sent = ok(
      `send the ${kind} letter`,
      200,
      await client.POST("/api/v1/letters/{letter_id}/send", {
        params: { path: { letter_id: draft.id } },
      }),
    );
    checkEqual(sent.status, "sent", `the sent ${kind} letter's status`);
    check(sent.sent_at !== null && sent.sent_at !== undefined, `the ${kind} letter has no sent_at`);
  }

  const checklist = ok(
    "complete the checklist",
    200,
    await client.PATCH("/api/v1/interviews/{interview_id}/checklist", {
      params: { path },
      body: CHECKLIST,
    }),
  );
  check(checklist.complete, "the checklist is not complete");
  checkEqual(checklist.missing, [], "checklist.missing");

  await sendLetter("request", interviewee.id, REQUEST_LETTER);
  const options = ok(
    "list the transitions",
    200,
    await client.GET("/api/v1/interviews/{interview_id}/transitions", { params: { path } }),
  );
  check(
    options.some((option) => option.to === "prepared"),
    "prepared is not among the next states",
  );

  await move("prepared");
  await move("held");
  await sendLetter("thank_you", interviewee.id, THANK_YOU_LETTER);
  await move("thanked");
  await sendLetter("report_back", referrer.id, REPORT_BACK_LETTER);
  const finished = await move("reported-back");
  check(Boolean(finished.reported_back_at), "reported_back_at is not set");

  const events = ok(
    "list the events",
    200,
    await client.GET("/api/v1/interviews/{interview_id}/events", { params: { path } }),
  );
  type Move = [InterviewState | null | undefined, InterviewState];
  const expectedMoves: Move[] = [
    ["request", "prepared"],
    ["prepared", "held"],
    ["held", "thanked"],
    ["thanked", "reported-back"],
  ];
  checkEqual(
    events.data.map((event): Move => [event.from_state, event.to_state]),
    expectedMoves,
    "the interview's history",
  );
  // Letters and the held interview keep the contact's last_contacted_at up to date.
  const contact = ok(
    "read the interviewee",
    200,
    await client.GET("/api/v1/contacts/{contact_id}", {
      params: { path: { contact_id: interviewee.id } },
    }),
  );
  check(Boolean(contact.last_contacted_at), "the interviewee's last_contacted_at is not set");

  // The interview's write-up as Markdown: its own operation answers text/markdown only, and
  // openapi-fetch reads it as the string the document says it is.
  const markdown = await client.GET("/api/v1/interviews/{interview_id}/export/markdown", {
    params: { path },
    parseAs: "text",
  });
  const text: string = ok("export the interview as Markdown", 200, markdown);
  check(
    (markdown.response.headers.get("content-type") ?? "").startsWith("text/markdown"),
    `the Markdown export came as ${markdown.response.headers.get("content-type")}`,
  );
  check(
    text.startsWith("# Informational interview with Dana Reyes"),
    `the Markdown export starts with ${JSON.stringify(text.slice(0, 80))}`,
  );

  // The same as JSON, from the operation that answers JSON only: the typed model, as is.
  const writeUp: Schemas["InterviewExport"] = ok(
    "export the interview as JSON",
    200,
    await client.GET("/api/v1/interviews/{interview_id}/export/json", { params: { path } }),
  );
  check(typeof writeUp === "object", "the JSON export did not parse as an object");
  checkEqual(writeUp.format, "infoview-interview", "the interview export's format");
  checkEqual(writeUp.interview_id, interview.id, "the interview export's interview_id");
  checkEqual(writeUp.state, "reported-back", "the interview export's state");
  checkEqual(writeUp.contact.full_name, "Dana Reyes", "the interview export's contact");
  checkEqual(writeUp.referral?.referrer.full_name, "Sam Ortiz", "the export's referrer");
  check(
    sameInstant(writeUp.dates.scheduled_at, scheduledAt),
    "the interview export's scheduled_at",
  );

  // The whole account, as the typed AccountDocument.
  const account: Schemas["AccountDocument"] = ok(
    "export the account",
    200,
    await client.GET("/api/v1/export"),
  );
  checkEqual(account.format, "infoview-export", "the account export's format");
  checkEqual(
    (account.contacts ?? []).map((c) => c.id).sort(),
    [interviewee.id, referrer.id].sort(),
    "the exported contacts",
  );
  const exported = account.interviews ?? [];
  checkEqual(exported.length, 1, "the number of exported interviews");
  checkEqual(exported[0]?.state, "reported-back", "the exported interview's state");
  checkEqual((account.letters ?? []).length, 3, "the number of exported letters");
}

main("openapi-fetch", async () => {
  const base = baseUrl();
  await uploadsAContactFile(base);
  await wholeWorkflow(base);
});
