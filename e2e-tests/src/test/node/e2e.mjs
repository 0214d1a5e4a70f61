// The official OpenAI Node SDK against the whole platform (./flatfare up), as a user's program would call it.
// Prints "PASS <check>" or "FAIL <check>: <why>" per check, and for every request the gateway answered after
// authentication one line "REQUEST {json}" with its x-request-id, HTTP status and whether it should be billed, so
// that SdkEndToEndIT can follow each request into the usage topic, the ledger, rated usage and the invoice.
// Exits non-zero when any check failed. Driven by SdkEndToEndIT.
import OpenAI from 'openai';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`missing ${name}`);
    process.exit(2);
  }
  return value;
};

const baseURL = env('FLATFARE_BASE_URL');
const model = env('FLATFARE_MODEL');
const embeddingModel = env('FLATFARE_EMBEDDING_MODEL');
const client = new OpenAI({ baseURL, apiKey: env('FLATFARE_API_KEY'), maxRetries: 0, timeout: 120_000 });

const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const expect = (condition, message) => {
  if (!condition) throw new Error(message);
};
const record = (name, requestId, status, billable) => {
  expect(typeof requestId === 'string' && requestId.length > 0, `${name}: no x-request-id`);
  console.log(`REQUEST ${JSON.stringify({ name, request_id: requestId, status, billable })}`);
};
// Token 261 is the tiny model's end of sequence: with it suppressed a generation runs to max_tokens.
const noEnd = { 261: -100 };

check('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  expect(ids.includes(model) && ids.includes(embeddingModel), `models ${ids}`);
  const one = await client.models.retrieve(model);
  expect(one.id === model && one.object === 'model', `retrieve ${JSON.stringify(one)}`);
});

check('chat', async () => {
  const { data: r, response } = await client.chat.completions
    .create({
      model,
      messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello' }],
      max_tokens: 8,
      seed: 7,
    })
    .withResponse();
  expect(r.object === 'chat.completion' && r.id.startsWith('chatcmpl-'), `chat ${r.id}`);
  expect(r.choices[0].message.role === 'assistant', 'assistant message');
  expect(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8, 'completion tokens');
  // The flat price, known before any compute: the demo tier's list price from metering.
  expect(response.headers.get('x-flatfare-price-tier') === 'small', 'price tier header');
  expect(response.headers.get('x-flatfare-price-micros') === '1000', `price ${response.headers.get('x-flatfare-price-micros')}`);
  expect(response.headers.get('x-flatfare-price-currency') === 'USD', 'price currency header');
  record('chat', response.headers.get('x-request-id'), response.status, true);
});

check('chat with n=2', async () => {
  const { data: r, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'Two answers' }], max_tokens: 4, n: 2 })
    .withResponse();
  expect(r.choices.length === 2 && r.choices[1].index === 1, `choices ${r.choices.length}`);
  record('chat n=2', response.headers.get('x-request-id'), response.status, true);
});

check('chat streaming with usage', async () => {
  const { data: stream, response } = await client.chat.completions
    .create({
      model,
      messages: [{ role: 'user', content: 'Count' }],
      max_tokens: 12,
      logit_bias: noEnd,
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    expect(chunk.object === 'chat.completion.chunk', `object ${chunk.object}`);
    if (chunk.choices.length > 0) {
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  expect(finish === 'length', `finish_reason ${finish}`);
  expect(usage && usage.completion_tokens === 12, `usage ${JSON.stringify(usage)}`);
  expect(text.length > 0, 'streamed text');
  record('chat stream', response.headers.get('x-request-id'), response.status, true);
});

check('completions', async () => {
  const { data: r, response } = await client.completions
    .create({ model, prompt: 'Once upon a time', max_tokens: 6 })
    .withResponse();
  expect(r.object === 'text_completion' && r.id.startsWith('cmpl-'), `completion ${r.id}`);
  expect(typeof r.choices[0].text === 'string', 'text');
  record('completion', response.headers.get('x-request-id'), response.status, true);
});

check('completions streaming', async () => {
  const { data: stream, response } = await client.completions
    .create({ model, prompt: 'Once upon a time', max_tokens: 6, stream: true })
    .withResponse();
  let chunks = 0;
  for await (const chunk of stream) {
    expect(chunk.object === 'text_completion', `object ${chunk.object}`);
    chunks++;
  }
  expect(chunks > 0, 'no chunks');
  record('completion stream', response.headers.get('x-request-id'), response.status, true);
});

check('responses', async () => {
  const { data: r, response } = await client.responses
    .create({ model, instructions: 'Be brief.', input: 'Once upon a time', max_output_tokens: 6 })
    .withResponse();
  expect(r.object === 'response' && r.id.startsWith('resp_'), `response ${r.id}`);
  expect(typeof r.output_text === 'string' && r.usage.output_tokens <= 6, 'output_text and usage');
  record('responses', response.headers.get('x-request-id'), response.status, true);
});

check('embeddings', async () => {
  const { data: r, response } = await client.embeddings
    .create({ model: embeddingModel, input: ['first text', 'second text'] })
    .withResponse();
  expect(r.object === 'list' && r.data.length === 2, `embeddings ${r.data.length}`);
  expect(r.data[1].index === 1 && r.data[0].embedding.length > 0, 'vectors');
  expect(r.data[0].embedding.every(Number.isFinite), 'finite floats');
  record('embeddings', response.headers.get('x-request-id'), response.status, true);
});

check('a stream the client abandons after its first token is billed', async () => {
  const { data: stream, response } = await client.chat.completions
    .create({
      model,
      messages: [{ role: 'user', content: 'Go on forever' }],
      max_tokens: 400,
      logit_bias: noEnd,
      stream: true,
    })
    .withResponse();
  for await (const chunk of stream) {
    if (chunk.choices.length > 0 && chunk.choices[0].delta.content) break; // closes the connection
  }
  record('abandoned stream', response.headers.get('x-request-id'), response.status, true);
});

check('a bad parameter is a 400 and not billed', async () => {
  try {
    await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 7,
    });
    throw new Error('no error');
  } catch (e) {
    expect(e instanceof OpenAI.BadRequestError, `got ${e}`);
    expect(e.param === 'temperature', `param ${e.param}`);
    record('bad temperature', e.requestID, e.status, false);
  }
});

check('an unknown model is a 404 and not billed', async () => {
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] });
    throw new Error('no error');
  } catch (e) {
    expect(e instanceof OpenAI.NotFoundError, `got ${e}`);
    expect(e.code === 'model_not_found', `code ${e.code}`);
    record('unknown model', e.requestID, e.status, false);
  }
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
