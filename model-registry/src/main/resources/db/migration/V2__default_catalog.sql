-- The default catalog: a serious provider's line-up plus the generated tiny model used by tests and the
-- local platform. Administrators change it through /admin/models; this migration runs once.
insert into models (id, display_name, owned_by, context_length, max_output_tokens, price_tier, status, created_at, updated_at)
values ('llama-3.3-70b',    'Llama 3.3 70B Instruct',               'meta',              131072,  8192, 'large',     'ACTIVE', now(), now()),
       ('deepseek-r1-70b',  'DeepSeek R1 Distill Llama 70B',        'deepseek',          131072, 32768, 'reasoning', 'ACTIVE', now(), now()),
       ('deepseek-v3.2',    'DeepSeek V3.2',                        'deepseek',          131072,  8192, 'large',     'ACTIVE', now(), now()),
       ('qwen-3-32b',       'Qwen3 32B',                            'qwen',               40960, 16384, 'large',     'ACTIVE', now(), now()),
       ('mistral-7b',       'Mistral 7B Instruct v0.3',             'mistralai',          32768,  8192, 'small',     'ACTIVE', now(), now()),
       ('whisper-large-v3', 'Whisper large-v3',                     'openai',               448,   448, 'speech',    'ACTIVE', now(), now()),
       ('flux-1-schnell',   'FLUX.1 [schnell]',                     'black-forest-labs',    512,     1, 'image',     'ACTIVE', now(), now()),
       ('flatfare-tiny',    'Flatfare tiny (generated demo model)', 'flatfare',            2048,   512, 'small',     'ACTIVE', now(), now()),
       ('flatfare-tiny-embed', 'Flatfare tiny embeddings (generated demo model)', 'flatfare', 2048, 1, 'small',   'ACTIVE', now(), now());

insert into model_aliases (alias, model_id)
values ('meta-llama/Llama-3.3-70B-Instruct',         'llama-3.3-70b'),
       ('llama-3.3',                                 'llama-3.3-70b'),
       ('deepseek-ai/DeepSeek-R1-Distill-Llama-70B', 'deepseek-r1-70b'),
       ('deepseek-r1',                               'deepseek-r1-70b'),
       ('deepseek-ai/DeepSeek-V3.2',                 'deepseek-v3.2'),
       ('deepseek-chat',                             'deepseek-v3.2'),
       ('Qwen/Qwen3-32B',                            'qwen-3-32b'),
       ('mistralai/Mistral-7B-Instruct-v0.3',        'mistral-7b'),
       ('openai/whisper-large-v3',                   'whisper-large-v3'),
       ('whisper-1',                                 'whisper-large-v3'),
       ('black-forest-labs/FLUX.1-schnell',          'flux-1-schnell'),
       ('tiny',                                      'flatfare-tiny');

insert into model_capabilities (model_id, capability)
values ('llama-3.3-70b', 'CHAT'), ('llama-3.3-70b', 'COMPLETION'),
       ('deepseek-r1-70b', 'CHAT'), ('deepseek-r1-70b', 'COMPLETION'),
       ('deepseek-v3.2', 'CHAT'), ('deepseek-v3.2', 'COMPLETION'),
       ('qwen-3-32b', 'CHAT'), ('qwen-3-32b', 'COMPLETION'),
       ('mistral-7b', 'CHAT'), ('mistral-7b', 'COMPLETION'),
       ('whisper-large-v3', 'TRANSCRIPTION'),
       ('flux-1-schnell', 'IMAGE'),
       ('flatfare-tiny', 'CHAT'), ('flatfare-tiny', 'COMPLETION'),
       ('flatfare-tiny-embed', 'EMBEDDINGS');
