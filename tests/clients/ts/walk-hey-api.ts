// The whole workflow through the SDK @hey-api/openapi-ts generates from the app's document
// (generated/hey-api/, made at test time, with its bundled fetch client): the same steps and
// data as tests/test_sdk.py. Usage: node dist/walk-hey-api.js <base-url>

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
import { type Client, createClient, createConfig } from "./generated/hey-api/client/index.js";
import {
  authRegister,
  authToken,
  contactsCreate,
  contactsGet,
  contactsImport,
  contactsList,
  exportAccount,
  interviewsCreate,
  interviewsExportJson,
  interviewsExportMarkdown,
  interviewsGet,
  interviewsListEvents,
  interviewsListTransitions,
  interviewsTransition,
  interviewsUpdateChecklist,
  lettersCreate,
  lettersSend,
  meGet,
  referralsCreate,
} from "./generated/hey-api/sdk.gen.js";
import type {
  AccountDocument,
  ClientOptions,
  InterviewExport,
  InterviewPublic,
  InterviewState,
  InterviewsTransitionError,
  InterviewsTransitionErrors,
  LetterKind,
} from "./generated/hey-api/types.gen.js";

/** The 409's body: a refused move. */
type Refusal = InterviewsTransitionErrors[409];
type RefusalCode = NonNullable<Refusal["errors"]>[number]["code"];

// The refusal codes are an enum in the document, so the type is a union of string literals,
// not `string`: this line does not compile if that is ever lost.
const refusalCodesAreLiterals: string extends RefusalCode ? never : true = true;

/**
 * Narrow an error body to the 409's schema: the document says a 409 answers with it (the SDK
 * types `error` as the union of every error status's body).
 */
function isRefusal(status: number, body: InterviewsTransitionError): body is Refusal {
  return status === 409 && body.code === "transition_refused";
}

function newClient(base: string, token?: string): Client {
  return createClient(createConfig<ClientOptions>({ baseUrl: base, auth: token }));
}

async function logIn(base: string, prefix: string): Promise<{ client: Client; userId: string }> {
  const anonymous = newClient(base);
  const email = uniqueEmail(prefix);
  const user = ok(
    "register",
    201,
    await authRegister({ client: anonymous, body: { email, password: PASSWORD } }),
  );
  // The OAuth2 password form: the SDK sends it urlencoded, as the document says.
  const tokens = ok(
    "log in",
    200,
    await authToken({ client: anonymous, body: { username: email, password: PASSWORD } }),
  );
  return { client: newClient(base, tokens.access_token), userId: user.id };
}

async function uploadsAContactFile(base: string): Promise<void> {
  const { client } = await logIn(base, "ts-hey-import");
  const upload = contactsFile();
  const file = new File([upload.text], upload.name, { type: "text/csv" });
  const result = ok("import contacts", 200, await contactsImport({ client, body: { file } }));
  checkEqual(
    [result.format, result.created, result.error_count],
    ["linkedin", 4, 0],
    "import result (format, created, error_count)",
  );
  const page = ok("list contacts", 200, await contactsList({ client }));
  checkEqual(
    page.data.map((contact) => contact.source).sort(),
    ["linkedin", "linkedin", "linkedin", "linkedin"],
    "sources of the imported contacts",
  );
}

async function wholeWorkflow(base: string): Promise<void> {
  const { client, userId } = await logIn(base, "ts-hey");
  checkEqual(ok("me", 200, await meGet({ client })).id, userId, "me.id");

  const interviewee = ok(
    "create the interviewee",
    201,
    await contactsCreate({ client, body: INTERVIEWEE }),
  );
  const referrer = ok("create the referrer", 201, await contactsCreate({ client, body: REFERRER }));
  const referral = ok(
    "create the referral",
    201,
    await referralsCreate({
      client,
      body: { referrer_id: referrer.id, referred_id: interviewee.id, relationship: "colleague" },
    }),
  );

  const scheduledAt = fiveMinutesAgo();
  const interview = ok(
    "create the interview",
    201,
    await interviewsCreate({
      client,
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
  const early = await interviewsTransition({ client, path, body: { to: "prepared" } });
  expectStatus("a move to prepared before the letter and the checklist", 409, early.response);
  check(early.error !== undefined, "the refused move has no problem body");
  check(isRefusal(early.response.status, early.error), "the 409 is not transition_refused");
  const refusal: Refusal = early.error;
  const codes: RefusalCode[] = (refusal.errors ?? []).map((error) => error.code);
  const expectedCodes: RefusalCode[] = ["checklist_incomplete", "request_letter_not_sent"];
  checkEqual([...codes].sort(), expectedCodes, "the refused move's codes");
  checkEqual(refusal.current_state, "request", "current_state of the refused move");
  check(refusalCodesAreLiterals, "unreachable");

  async function move(to: InterviewState): Promise<InterviewPublic> {
    // With the interview's current ETag, as a careful client would.
    const current = await interviewsGet({ client, path });
    ok(`read the interview before moving to ${to}`, 200, current);
    const etag = current.response.headers.get("etag");
    check(etag !== null, "GET /interviews/{id} sent no ETag");
    const moved = ok(
      `move to ${to}`,
      200,
      await interviewsTransition({ client, path, headers: { "if-match": etag }, body: { to } }),
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
      await lettersCreate({
        client,
        body: { kind, recipient_id: recipientId, interview_id: interview.id, ...letter },
      }),
    );
    checkEqual(draft.status, "draft", `the ${kind} letter's status`);
    const sent = ok(
      `send the ${kind} letter`,
      200,
      await lettersSend({ client, path: { letter_id: draft.id } }),
    );
    checkEqual(sent.status, "sent", `the sent ${kind} letter's status`);
    check(sent.sent_at !== null && sent.sent_at !== undefined, `the ${kind} letter has no sent_at`);
  }

  const checklist = ok(
    "complete the checklist",
    200,
    await interviewsUpdateChecklist({ client, path, body: CHECKLIST }),
  );
  check(checklist.complete, "the checklist is not complete");
  checkEqual(checklist.missing, [], "checklist.missing");

  await sendLetter("request", interviewee.id, REQUEST_LETTER);
  const options = ok("list the transitions", 200, await interviewsListTransitions({ client, path }));
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

  const events = ok("list the events", 200, await interviewsListEvents({ client, path }));
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
    await contactsGet({ client, path: { contact_id: interviewee.id } }),
  );
  check(Boolean(contact.last_contacted_at), "the interviewee's last_contacted_at is not set");

  // The interview's write-up as Markdown, from the operation that answers text/markdown only:
  // the SDK types its body as a string and reads it as text.
  const markdown = await interviewsExportMarkdown({ client, path });
  const text: string = ok("export the interview as Markdown", 200, markdown);
  check(
    (markdown.response.headers.get("content-type") ?? "").startsWith("text/markdown"),
    `the Markdown export came as ${markdown.response.headers.get("content-type")}`,
  );
  check(
    text.startsWith("# Informational interview with Dana Reyes"),
    `the Markdown export starts with ${JSON.stringify(text.slice(0, 80))}`,
  );

  // The same as JSON, through the SDK: the typed model.
  const writeUp: InterviewExport = ok(
    "export the interview as JSON",
    200,
    await interviewsExportJson({ client, path }),
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
  const account: AccountDocument = ok("export the account", 200, await exportAccount({ client }));
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

main("hey-api", async () => {
  const base = baseUrl();
  await uploadsAContactFile(base);
  await wholeWorkflow(base);
});
