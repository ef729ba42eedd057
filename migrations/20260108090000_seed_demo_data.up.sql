-- Demo data: enough rows that table sizes, scans and lock waits are visible.
-- Fully deterministic (no random()): every value is derived from generate_series.
--   personas 200; scenarios 2,000; conversation_templates 2,000; batch_jobs 50;
--   conversations 20,000; conversation_turns 80,000; evaluations 5,000.
-- Ids are explicit, so the identity sequences are moved past them at the end;
-- the DOWN truncates with RESTART IDENTITY.

INSERT INTO personas (id, name, role, system_prompt, traits)
SELECT g,
       format('%s #%s', (ARRAY['Ada', 'Bram', 'Chen', 'Dana', 'Emeka', 'Freya', 'Goran', 'Hana', 'Ines', 'Jun'])[g % 10 + 1], g),
       (ARRAY['customer', 'agent', 'expert', 'narrator'])[g % 4 + 1],
       format('You are persona %s; answer in at most %s sentences.', g, g % 5 + 2),
       jsonb_build_object('patience', g % 10, 'verbosity', (g * 7) % 10, 'formal', g % 3 = 0)
FROM generate_series(1, 200) AS g;

INSERT INTO scenarios (id, slug, title, domain, difficulty, description)
SELECT g,
       format('scenario-%s', lpad(g::text, 4, '0')),
       format('%s case %s', initcap(d.domain), g),
       d.domain,
       g % 5 + 1,
       format('A %s conversation; difficulty %s of 5.', d.domain, g % 5 + 1)
FROM generate_series(1, 2000) AS g
CROSS JOIN LATERAL (
    SELECT (ARRAY['billing', 'shipping', 'onboarding', 'technical support',
                  'refunds', 'account security', 'sales', 'feedback'])[g % 8 + 1] AS domain
) AS d;

INSERT INTO conversation_templates (id, scenario_id, persona_id, name, opening_line, max_turns)
SELECT g,
       g,
       (g * 13) % 200 + 1,
       format('template-%s-v1', lpad(g::text, 4, '0')),
       format('Hello, this is about case %s; where should I start?', g),
       4 + g % 5
FROM generate_series(1, 2000) AS g;

INSERT INTO batch_jobs (id, template_id, status, requested_count, completed_count, model, params,
                        created_at, started_at, finished_at)
SELECT b,
       (b * 37) % 2000 + 1,
       'completed',
       400,
       400,
       'gen-model-large',
       jsonb_build_object('temperature', 0.7, 'max_tokens', 512, 'seed', b),
       timestamptz '2025-10-01 00:00:00+00' + (b - 1) * interval '33 hours',
       timestamptz '2025-10-01 00:00:00+00' + (b - 1) * interval '33 hours' + interval '5 minutes',
       timestamptz '2025-10-01 00:00:00+00' + b * interval '33 hours'
FROM generate_series(1, 50) AS b;

-- 16,000 conversations come from the 50 batch jobs (400 each); the last 4,000 are ad hoc.
-- turn_count cycles 2..6, which gives exactly 80,000 turns.
INSERT INTO conversations (id, template_id, batch_job_id, status, turn_count, created_at, updated_at)
SELECT g,
       CASE WHEN g <= 16000 THEN (((g - 1) / 400 + 1) * 37) % 2000 + 1
            ELSE (g * 7919) % 2000 + 1 END,
       CASE WHEN g <= 16000 THEN (g - 1) / 400 + 1 END,
       CASE WHEN g > 19900 THEN 'queued'
            WHEN g > 19700 THEN 'running'
            WHEN g % 47 = 0 THEN 'failed'
            ELSE 'completed' END,
       2 + g % 5,
       timestamptz '2025-10-01 00:00:00+00' + g * interval '5 minutes',
       timestamptz '2025-10-01 00:00:00+00' + g * interval '5 minutes' + interval '2 minutes'
FROM generate_series(1, 20000) AS g;

INSERT INTO conversation_turns (conversation_id, turn_index, speaker, content, token_count, created_at)
SELECT c.g, t.n, m.speaker, m.content, length(m.content) / 4,
       timestamptz '2025-10-01 00:00:00+00' + c.g * interval '5 minutes' + t.n * interval '20 seconds'
FROM generate_series(1, 20000) AS c(g)
CROSS JOIN LATERAL generate_series(1, 2 + c.g % 5) AS t(n)
CROSS JOIN LATERAL (
    SELECT CASE WHEN t.n % 2 = 1 THEN 'user' ELSE 'assistant' END AS speaker,
           CASE WHEN t.n % 2 = 1 THEN
                format('Hi, I''m writing about ticket #%s; the %s integration stopped syncing after the last update. It worked fine before and nothing changed on our side. Can you help?',
                       (c.g * 13) % 100000,
                       (ARRAY['calendar', 'payments', 'CRM', 'e-mail', 'storage', 'chat'])[c.g % 6 + 1])
           ELSE
                format('Thanks for the details. Step %s: open Settings > Integrations, reconnect the account, and check that the sync status changes to "active"; if it does not, reply with reference %s-%s and we will escalate it.',
                       t.n / 2, c.g, t.n)
           END AS content
) AS m;

INSERT INTO evaluations (conversation_id, evaluator, score, rubric, notes, created_at)
SELECT g,
       CASE WHEN g % 20 = 0 THEN 'human' ELSE 'rubric-v1' END,
       ((g * 37) % 1001) / 100.0,
       jsonb_build_object('helpfulness', g % 5 + 1, 'tone', (g / 4) % 5 + 1, 'accuracy', (g / 8) % 5 + 1),
       CASE WHEN g % 100 = 0 THEN 'auto-scored; flagged for human review' END,
       timestamptz '2025-10-01 00:00:00+00' + g * interval '5 minutes' + interval '1 hour'
FROM generate_series(4, 20000, 4) AS g;

-- Move the identity sequences past the explicit ids.
SELECT setval(pg_get_serial_sequence('personas', 'id'), 200);
SELECT setval(pg_get_serial_sequence('scenarios', 'id'), 2000);
SELECT setval(pg_get_serial_sequence('conversation_templates', 'id'), 2000);
SELECT setval(pg_get_serial_sequence('batch_jobs', 'id'), 50);
SELECT setval(pg_get_serial_sequence('conversations', 'id'), 20000);

-- Fresh statistics so row estimates (pg_class.reltuples) are right straight away.
ANALYZE personas, scenarios, conversation_templates, batch_jobs, conversations, conversation_turns, evaluations;
