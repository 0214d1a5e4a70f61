// The official OpenAI Node SDK against a running Flatfare gateway. Prints "PASS <check>" or "FAIL <check>: <why>"
// per check and exits non-zero when any check failed. Driven by SdkConformanceTest, which starts the gateway.
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
const client = new OpenAI({ baseURL, apiKey: env('FLATFARE_API_KEY'), maxRetries: 0, timeout: 60_000 });

const checks = [];
const check = (name, fn) => checks.push([name, fn]);
const expect = (condition, message) => {
  if (!condition) throw new Error(message);
};

check('chat', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello' }],
    max_tokens: 8,
    seed: 7,
  });
  expect(r.id.startsWith('chatcmpl-'), `id ${r.id}`);
  expect(r.object === 'chat.completion', `object ${r.object}`);
  expect(r.model === model, `model ${r.model}`);
  expect(r.choices.length === 1 && r.choices[0].index === 0, 'one choice with index 0');
  expect(r.choices[0].message.role === 'assistant', 'assistant message');
  expect(typeof r.choices[0].message.content === 'string', 'content is a string');
  expect(['stop', 'length'].includes(r.choices[0].finish_reason), `finish_reason ${r.choices[0].finish_reason}`);
  expect(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'usage adds up');
  expect(r.usage.prompt_tokens > 0 && r.usage.completion_tokens <= 8, 'token counts');
});

check('chat-n', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Two answers' }],
    n: 2,
    max_tokens: 4,
  });
  expect(r.choices.map((c) => c.index).sort().join(',') === '0,1', 'indices 0 and 1');
});

check('chat-stream', async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Stream please' }],
    max_tokens: 12,
    stream: true,
    stream_options: { include_usage: true },
  });
  const ids = new Set();
  let text = '';
  let finish = null;
  let usage = null;
  let sawRole = false;
  for await (const chunk of stream) {
    ids.add(chunk.id);
    expect(chunk.object === 'chat.completion.chunk', `object ${chunk.object}`);
    if (chunk.choices.length === 0) {
      usage = chunk.usage;
      continue;
    }
    expect(chunk.usage === null, 'usage is null on content chunks');
    const choice = chunk.choices[0];
    if (choice.delta.role) sawRole = true;
    text += choice.delta.content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  expect(ids.size === 1, 'one id for all chunks');
  expect(sawRole, 'the first delta carries the role');
  expect(finish === 'stop' || finish === 'length', `finish_reason ${finish}`);
  expect(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
    'final usage chunk');
  expect(typeof text === 'string', 'text');
});

check('chat-json', async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Reply in JSON' }],
    response_format: { type: 'json_object' },
    max_tokens: 64,
  });
  if (r.choices[0].finish_reason === 'stop') JSON.parse(r.choices[0].message.content);
});

check('completions', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6 });
  expect(r.id.startsWith('cmpl-'), `id ${r.id}`);
  expect(r.object === 'text_completion', `object ${r.object}`);
  expect(typeof r.choices[0].text === 'string', 'text');
  expect(r.usage.completion_tokens <= 6, 'max_tokens honoured');
  // Several prompts in one request (as LangChain batches them): n choices each, numbered prompt by prompt.
  const batch = await client.completions.create({ model, prompt: ['Once', 'Twice'], n: 2, max_tokens: 3, echo: true });
  expect(batch.choices.map((c) => c.index).join() === '0,1,2,3', `indices ${batch.choices.map((c) => c.index)}`);
  expect(batch.choices.every((c, i) => c.text.startsWith(i < 2 ? 'Once' : 'Twice')), 'each choice of its prompt');
});

check('completions-stream', async () => {
  const stream = await client.completions.create({ model, prompt: 'Once', max_tokens: 6, stream: true });
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  expect(chunks > 0 && finish !== null, `chunks ${chunks}, finish ${finish}`);
});

check('embeddings', async () => {
  // No encoding_format: the SDK asks for base64 itself and decodes it.
  const a = await client.embeddings.create({ model: embeddingModel, input: ['hello', 'world'] });
  const b = await client.embeddings.create({ model: embeddingModel, input: 'hello', encoding_format: 'float' });
  expect(a.object === 'list' && a.data.length === 2, 'two embeddings');
  expect(a.data[1].index === 1, 'indices');
  const dims = b.data[0].embedding.length;
  expect(dims > 0 && a.data[0].embedding.length === dims, 'same dimensions in both encodings');
  for (let i = 0; i < dims; i++) {
    expect(Math.abs(a.data[0].embedding[i] - b.data[0].embedding[i]) < 1e-6, 'base64 and float agree');
  }
  expect(a.usage.prompt_tokens > 0, 'usage');
});

check('models', async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  expect(ids.includes(model) && ids.includes(embeddingModel), `models ${ids}`);
  const one = await client.models.retrieve(model);
  expect(one.id === model && one.object === 'model' && typeof one.owned_by === 'string', 'retrieve');
  // A Hugging Face style alias: the SDK percent-encodes its slash.
  const aliased = await client.models.retrieve(env('FLATFARE_SLASHED_ALIAS'));
  expect(aliased.id === env('FLATFARE_SLASHED_ALIAS_OF'), `retrieve by alias ${aliased.id}`);
});

check('responses', async () => {
  const r = await client.responses.create({
    model,
    instructions: 'You are terse.',
    input: [{ role: 'user', content: 'Say hello' }],
    max_output_tokens: 8,
  });
  expect(r.id.startsWith('resp_'), `id ${r.id}`);
  expect(r.object === 'response', `object ${r.object}`);
  expect(['completed', 'incomplete'].includes(r.status), `status ${r.status}`);
  // The SDK's own helper, computed from the output items.
  expect(typeof r.output_text === 'string' && r.output_text === r.output[0].content[0].text, 'output_text');
  expect(r.usage.total_tokens === r.usage.input_tokens + r.usage.output_tokens, 'usage adds up');
  expect(r.usage.output_tokens <= 8, 'max_output_tokens honoured');
});

check('responses-stream', async () => {
  // The SDK's stream helper rebuilds the response from the events and checks their order as it goes.
  const stream = client.responses.stream({ model, input: 'Stream please', max_output_tokens: 12 });
  let text = '';
  const types = [];
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
  }
  const final = await stream.finalResponse();
  expect(types[0] === 'response.created', `first event ${types[0]}`);
  expect(types.at(-1) === `response.${final.status}`, `last event ${types.at(-1)}`);
  expect(final.output_text === text, 'the deltas add up to the final text');
  expect(final.usage.output_tokens > 0, 'usage');
});

check('responses-stored', async () => {
  // Stored by default, as on OpenAI: retrieved, continued, its input items listed, deleted.
  const first = await client.responses.create({ model, input: 'My name is Ada.', max_output_tokens: 4 });
  expect(first.store === true, 'stored');
  const again = await client.responses.retrieve(first.id);
  expect(again.id === first.id && again.output_text === first.output_text, 'retrieved as answered');
  const next = await client.responses.create({
    model, input: 'What is my name?', previous_response_id: first.id, max_output_tokens: 4,
  });
  expect(next.previous_response_id === first.id, 'previous_response_id echoed');
  expect(next.usage.input_tokens > first.usage.input_tokens, 'the earlier turn reached the model');
  const items = [];
  for await (const item of client.responses.inputItems.list(next.id, { limit: 1 })) items.push(item);
  expect(items.length === 1 && items[0].role === 'user' && items[0].content[0].text === 'What is my name?',
    `input items ${JSON.stringify(items)}`);
  // What only background responses have is refused, not ignored (a retrieved stream would be silently empty).
  for (const [what, call] of [['cancel', () => client.responses.cancel(next.id)],
    ['stream', () => client.responses.retrieve(next.id, { stream: true })]]) {
    const refusal = await call().then(() => null, (e) => e);
    expect(refusal instanceof OpenAI.BadRequestError, `${what}: ${refusal?.constructor?.name}`);
  }
  const deleted = await client.responses.delete(first.id);
  expect(deleted === undefined || deleted === null || typeof deleted === 'object', 'deleted');
  try {
    await client.responses.retrieve(first.id);
  } catch (e) {
    expect(e instanceof OpenAI.NotFoundError, `${e?.constructor?.name} after delete`);
    return;
  }
  throw new Error('a deleted response was still retrieved');
});

const expectError = async (name, errorClass, status, fn) => {
  check(name, async () => {
    try {
      await fn();
    } catch (e) {
      expect(e instanceof errorClass, `${e?.constructor?.name} is not ${errorClass.name}`);
      expect(e.status === status, `status ${e.status}`);
      expect(typeof e.error?.message === 'string' && 'code' in e.error && 'param' in e.error, 'envelope');
      return;
    }
    throw new Error('no error raised');
  });
};

expectError('error-400', OpenAI.BadRequestError, 400, () =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: 5 }));
expectError('error-401', OpenAI.AuthenticationError, 401, () =>
  new OpenAI({ baseURL, apiKey: 'sk-ff-not-a-real-key', maxRetries: 0 }).models.list());
expectError('error-404', OpenAI.NotFoundError, 404, () =>
  client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }));
expectError('error-400-responses', OpenAI.BadRequestError, 400, () =>
  client.responses.create({ model, input: 'x', tools: [{ type: 'function', name: 'f', parameters: {} }] }));
expectError('error-404-responses', OpenAI.NotFoundError, 404, () => client.responses.retrieve('resp_123'));
// Default retries on: x-should-retry: false must stop the SDK from retrying a quota that will not refill.
expectError('error-429', OpenAI.RateLimitError, 429, () =>
  new OpenAI({ baseURL, apiKey: env('FLATFARE_EXHAUSTED_API_KEY') }).chat.completions.create({
    model, messages: [{ role: 'user', content: 'x' }], max_tokens: 1,
  }));

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.message ?? e}`);
  }
}
process.exit(failed === 0 ? 0 : 1);
