// A customer's first purchase, through a client generated from the server's own /openapi.json:
// e-mail sign-up, an organization, a module and offer made by an administrator, a price
// calculation, checkout with the sandbox card, and the paid invoice in the list.
//
// Every request body and every field read comes from the generated types (generated/charter.ts),
// so a field renamed in the server fails `tsc`; values are also checked at run time, so a server
// that answers other than its document says fails the run. scripts/client-check runs it.
//
// Environment: CHARTER_URL (the server's origin), CHARTER_OUTBOX (its file mail outbox),
// CHARTER_ADMIN (the JSON line `charter bootstrap-admin` printed). The server runs with `--dev`
// and CHARTER_TAX_RATES=DE=19.

import { readFileSync } from "node:fs";
import createClient, { type Client, type FetchResponse } from "openapi-fetch";
import type { components, paths } from "../generated/charter.js";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];

/** The JSON request body of an operation, addressed by path like openapi-fetch does. */
type RequestJson<P extends keyof paths, M extends keyof paths[P]> =
  NonNullable<paths[P][M]> extends { requestBody?: infer R }
    ? NonNullable<R> extends { content: { "application/json": infer B } }
      ? B
      : never
    : never;

/** What openapi-fetch resolves to for an operation: `data` on 2xx, `error` otherwise. */
type Answer<P extends keyof paths, M extends keyof paths[P]> = FetchResponse<
  NonNullable<paths[P][M]>,
  object,
  `${string}/${string}`
>;

// Compile-time checks of what the generator made of the document; a line fails to compile
// when its claim is false.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type IsAny<T> = 0 extends 1 & T ? true : false;
/** `T` is a union of literals: a string or number outside the document's `enum` is refused. */
type IsClosed<T, Base> = IsAny<T> extends true ? false : [T] extends [never] ? false : Base extends T ? false : true;

// The document answers each error status with its own application/problem+json response: the
// problem, with `code` narrowed to the codes that status can carry. openapi-fetch types `error`
// as the union of them. It must be problems only (not `never`, `any` or `unknown`, nothing of
// the success body), `code` must be the documented codes (literals, not any number), and
// `data` must be the success body alone. (problem() below takes only a code the operation lists.)
type CheckoutAnswer = Answer<"/v1/orgs/{orgId}/checkouts", "post">;
type CheckoutError = NonNullable<CheckoutAnswer["error"]>;
export type ErrorIsProblem = Expect<
  Equal<IsAny<CheckoutError> extends true ? false : [CheckoutError] extends [Problem] ? true : false, true>
>;
export type ErrorIsNotEmpty = Expect<Equal<[CheckoutError] extends [never] ? false : true, true>>;
export type ErrorIsNotData = Expect<Equal<Extract<CheckoutError, { invoice: unknown }>, never>>;
export type ErrorCodesAreListed = Expect<IsClosed<CheckoutError["code"], number>>;
export type DataIsNotProblem = Expect<
  Equal<Extract<NonNullable<CheckoutAnswer["data"]>, { requestId: string }>, never>
>;

// Closed sets of values are enums in the document, so the generated types are unions of their
// values: a comparison with a value outside them (a misspelled status) fails to compile.
export type EnumsAreClosed = [
  Expect<IsClosed<Schemas["InvoiceStatus"], string>>,
  Expect<IsClosed<Schemas["InvoiceKind"], string>>,
  Expect<IsClosed<Schemas["PaymentStatus"], string>>,
  Expect<IsClosed<Schemas["SubscriptionStatus"], string>>,
  Expect<IsClosed<Schemas["Interval"], string>>,
  Expect<IsClosed<Schemas["PaymentMethodType"], string>>,
];

const SANDBOX_CARD_OK = "4242424242424242";
const PRICE_MINOR = 1999; // EUR 19.99 a month for one unit
const QUANTITY = 3;
const TAX_PERCENT_DE = 19; // CHARTER_TAX_RATES=DE=19, set by scripts/client-check

class CheckFailed extends Error {}

function fail(message: string): never {
  throw new CheckFailed(message);
}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) fail(message);
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") fail(`${name} is not set`);
  return value;
}

function describe(problem: Problem): string {
  return `${problem.code} ${problem.title}: ${problem.detail} (request ${problem.requestId})`;
}

/**
 * The answer's body when the status is the expected one; anything else ends the check with the
 * problem the server gave.
 */
async function ok<D>(
  step: string,
  expected: number,
  pending: Promise<{ data?: D; error?: Problem; response: Response }>,
): Promise<D> {
  const { data, error, response } = await pending;
  if (error !== undefined) fail(`${step}: ${response.status} ${describe(error)}`);
  if (response.status !== expected) fail(`${step}: status ${response.status}, expected ${expected}`);
  if (data === undefined) fail(`${step}: ${response.status} without a body`);
  console.log(`ok  ${step} (${response.status})`);
  return data;
}

/**
 * The problem of an answer that must fail with `code`, which must be one of the codes the
 * operation's document lists.
 */
async function problem<E extends Problem>(
  step: string,
  code: NoInfer<E["code"]>,
  pending: Promise<{ data?: unknown; error?: E; response: Response }>,
): Promise<E> {
  const { error, response } = await pending;
  if (error === undefined) fail(`${step}: ${response.status}, expected the problem ${code}`);
  expect(error.code === code, `${step}: ${describe(error)}, expected ${code}`);
  expect(
    response.headers.get("content-type")?.startsWith("application/problem+json") === true,
    `${step}: a problem answered as ${response.headers.get("content-type")}`,
  );
  console.log(`ok  ${step} (${response.status}, ${error.code} ${error.title})`);
  return error;
}

function client(baseUrl: string, token?: string): Client<paths> {
  return createClient<paths>({
    baseUrl,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

/** The sign-in code the file outbox holds for `to` (the last one mailed to it). */
function signInCode(outbox: string, to: string): string {
  let code: string | undefined;
  for (const line of readFileSync(outbox, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    const mail: unknown = JSON.parse(line);
    if (typeof mail !== "object" || mail === null) fail(`outbox line is not an object: ${line}`);
    if (!("to" in mail) || mail.to !== to) continue;
    if (!("template" in mail) || mail.template !== "sign-in-code") continue;
    const data = "data" in mail ? mail.data : undefined;
    if (typeof data === "object" && data !== null && "code" in data && typeof data.code === "string") {
      code = data.code;
    }
  }
  if (code === undefined) fail(`no sign-in code for ${to} in ${outbox}`);
  expect(/^[0-9]{6}$/.test(code), `the sign-in code ${code} is not 6 digits`);
  return code;
}

function adminToken(line: string): string {
  const printed: unknown = JSON.parse(line);
  if (
    typeof printed === "object" &&
    printed !== null &&
    "token" in printed &&
    typeof printed.token === "string" &&
    printed.token.startsWith("cht_")
  ) {
    return printed.token;
  }
  fail(`bootstrap-admin printed no access token: ${line}`);
}

function roundHalfUp(numerator: number, denominator: number): number {
  return Math.floor((2 * numerator + denominator) / (2 * denominator));
}

async function main(): Promise<void> {
  const baseUrl = env("CHARTER_URL");
  const outbox = env("CHARTER_OUTBOX");
  const admin = client(baseUrl, adminToken(env("CHARTER_ADMIN")));
  const anonymous = client(baseUrl);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

  // 1. E-mail sign-up: a code by mail, then a session.
  const email = `buyer-${run}@example.com`;
  const startBody: RequestJson<"/v1/auth/email-otp/start", "post"> = { email };
  const sent = await ok(
    "start an e-mail sign-in",
    202,
    anonymous.POST("/v1/auth/email-otp/start", { body: startBody }),
  );
  const verifyBody: RequestJson<"/v1/auth/email-otp/verify", "post"> = {
    challengeId: sent.challengeId,
    code: signInCode(outbox, email),
  };
  const grant = await ok(
    "verify the mailed code",
    200,
    anonymous.POST("/v1/auth/email-otp/verify", { body: verifyBody }),
  );
  expect(grant.sessionToken.startsWith("chs_"), `session token ${grant.sessionToken.slice(0, 4)}…`);
  expect(!grant.restricted, "a new e-mail user got a restricted session");
  expect(grant.user.email === email, `signed in as ${grant.user.email}, expected ${email}`);
  const buyer = client(baseUrl, grant.sessionToken);
  const me = await ok("read the signed-in user", 200, buyer.GET("/v1/me"));
  expect(me.id === grant.user.id, `GET /v1/me is ${me.id}, the sign-in said ${grant.user.id}`);

  // 2. An organization in Germany (19 % tax).
  const orgBody: RequestJson<"/v1/orgs", "post"> = { name: `Acme ${run}`, country: "DE" };
  const org = await ok("create an organization", 201, buyer.POST("/v1/orgs", { body: orgBody }));
  expect(org.id.startsWith("org_"), `organization id ${org.id}`);
  expect(org.country === "DE", `organization country ${org.country}`);
  const orgPath = { params: { path: { orgId: org.id } } };

  // 3. The administrator adds a module and a monthly EUR offer, valid from the server's now.
  const clock = await ok("read the server clock", 200, anonymous.GET("/v1/dev/clock"));
  const moduleBody: RequestJson<"/v1/modules", "post"> = {
    key: `reports-${run}`,
    name: "Reports",
    description: "Monthly reports for the whole team.",
  };
  const module = await ok("create a module", 201, admin.POST("/v1/modules", { body: moduleBody }));
  expect(module.id.startsWith("mod_"), `module id ${module.id}`);
  const modulePath = { params: { path: { moduleId: module.id } } };
  const offerBody: RequestJson<"/v1/modules/{moduleId}/offers", "post"> = {
    price: { amount: PRICE_MINOR, currency: "EUR" },
    interval: "month",
    validFrom: clock.now,
    refundPeriodDays: 14,
    agreementRequired: false,
  };
  const offer = await ok(
    "create an offer",
    201,
    admin.POST("/v1/modules/{moduleId}/offers", { ...modulePath, body: offerBody }),
  );
  expect(offer.moduleId === module.id, `offer of module ${offer.moduleId}`);
  const active = await ok(
    "read the active offer",
    200,
    buyer.GET("/v1/modules/{moduleId}/active-offer", modulePath),
  );
  expect(active.id === offer.id, `active offer ${active.id}, expected ${offer.id}`);

  // 4. The buyer prices three units and checks out with the sandbox card.
  const subtotal = PRICE_MINOR * QUANTITY;
  const tax = roundHalfUp(subtotal * TAX_PERCENT_DE, 100);
  const total = subtotal + tax;
  const calculationBody: RequestJson<"/v1/orgs/{orgId}/price-calculations", "post"> = {
    items: [{ moduleId: module.id, quantity: QUANTITY }],
  };
  const calculation = await ok(
    "calculate the price",
    201,
    buyer.POST("/v1/orgs/{orgId}/price-calculations", { ...orgPath, body: calculationBody }),
  );
  const [line, ...moreLines] = calculation.lines;
  expect(line !== undefined && moreLines.length === 0, `${calculation.lines.length} price lines`);
  expect(line.offerId === offer.id, `priced with offer ${line.offerId}, expected ${offer.id}`);
  expect(line.quantity === QUANTITY, `priced ${line.quantity} units`);
  expect(line.amount.amount === subtotal, `line amount ${line.amount.amount}, expected ${subtotal}`);
  expect(calculation.currency === "EUR", `calculated in ${calculation.currency}`);
  expect(calculation.tax.amount === tax, `tax ${calculation.tax.amount}, expected ${tax}`);
  expect(calculation.total.amount === total, `total ${calculation.total.amount}, expected ${total}`);

  const checkoutBody: RequestJson<"/v1/orgs/{orgId}/checkouts", "post"> = {
    priceCalculationId: calculation.id,
    paymentMethod: { type: "card", number: SANDBOX_CARD_OK },
  };
  const checkout = await ok(
    "check out with the sandbox card",
    201,
    buyer.POST("/v1/orgs/{orgId}/checkouts", { ...orgPath, body: checkoutBody }),
  );
  expect(checkout.invoice.status === "paid", `checkout invoice is ${checkout.invoice.status}`);
  expect(checkout.invoice.kind === "checkout", `checkout invoice of kind ${checkout.invoice.kind}`);
  expect(checkout.invoice.total.amount === total, `invoice total ${checkout.invoice.total.amount}`);
  const [payment, ...morePayments] = checkout.invoice.payments;
  expect(payment !== undefined && morePayments.length === 0, `${checkout.invoice.payments.length} payments`);
  expect(payment.status === "succeeded", `payment is ${payment.status}`);
  expect(payment.amount.amount === total, `payment of ${payment.amount.amount}, expected ${total}`);
  const [subscription] = checkout.subscriptions;
  expect(subscription !== undefined, "checkout made no subscription");
  expect(subscription.moduleId === module.id, `subscribed to ${subscription.moduleId}`);
  expect(subscription.status === "active", `subscription is ${subscription.status}`);

  // The same calculation again: a problem answer, typed and parsed like any other body.
  await problem(
    "check out the same calculation twice",
    400013,
    buyer.POST("/v1/orgs/{orgId}/checkouts", { ...orgPath, body: checkoutBody }),
  );

  // 5. Exactly one invoice, paid, with the expected total.
  const invoices = await ok(
    "list the invoices",
    200,
    buyer.GET("/v1/orgs/{orgId}/invoices", { params: { path: { orgId: org.id }, query: { limit: 100 } } }),
  );
  expect(invoices.total === 1, `${invoices.total} invoices, expected 1`);
  const paid = invoices.items.filter((invoice) => invoice.status === "paid");
  const [invoice] = paid;
  expect(invoice !== undefined && paid.length === 1, `${paid.length} paid invoices, expected 1`);
  expect(invoice.id === checkout.invoice.id, `paid invoice ${invoice.id}, checkout made ${checkout.invoice.id}`);
  expect(invoice.total.amount === total, `paid invoice total ${invoice.total.amount}, expected ${total}`);
  expect(invoice.total.currency === "EUR", `paid invoice in ${invoice.total.currency}`);
  expect(invoice.amountDue.amount === 0, `amount due ${invoice.amountDue.amount} on a paid invoice`);
  expect(invoice.paidAt !== null && invoice.paidAt !== undefined, "paid invoice without paidAt");

  console.log(`client check passed: invoice ${invoice.id} paid, EUR ${(total / 100).toFixed(2)}`);
}

main().catch((error: unknown) => {
  if (error instanceof CheckFailed) {
    console.error(`client check FAILED: ${error.message}`);
  } else {
    console.error("client check FAILED:", error);
  }
  process.exitCode = 1;
});
