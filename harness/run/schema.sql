-- qharness results store (SQLite, WAL journal).
--
-- Every run is written in one transaction: its bpp, metrics and per-item rows appear
-- together with status 'done', or not at all.  A sweep killed at any point leaves runs that
-- are 'pending' or 'running'; `qharness sweep --resume` redoes exactly those.  UNIQUE keys
-- make a second write of the same thing an error rather than a duplicate row.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                    -- schema_version
);

-- One row per sweep started (a resume continues the same row).
CREATE TABLE IF NOT EXISTS experiments (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    description     TEXT,
    file_path       TEXT NOT NULL,
    file_text       TEXT NOT NULL,         -- the experiment file as run
    file_sha256     TEXT NOT NULL,
    harness_version TEXT NOT NULL,
    git_commit      TEXT,                  -- of the harness build, if known
    host            TEXT,
    seed            INTEGER NOT NULL,
    ctx             INTEGER,
    started_at      TEXT NOT NULL,         -- UTC, ISO 8601
    finished_at     TEXT
);

CREATE TABLE IF NOT EXISTS models (
    id           INTEGER PRIMARY KEY,
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL UNIQUE,     -- of model.safetensors
    architecture TEXT NOT NULL,            -- 'gpt2'
    n_layer      INTEGER NOT NULL,
    n_head       INTEGER NOT NULL,
    n_embd       INTEGER NOT NULL,
    n_ctx        INTEGER NOT NULL,
    n_vocab      INTEGER NOT NULL,
    parameters   INTEGER NOT NULL,
    dtype        TEXT NOT NULL
);

-- A method configuration by its canonical string: every parameter, the scope and the kept dtype.
CREATE TABLE IF NOT EXISTS method_configs (
    id        INTEGER PRIMARY KEY,
    canonical TEXT NOT NULL UNIQUE,
    family    TEXT NOT NULL                -- the method name, or 'none' for the baseline
);

CREATE TABLE IF NOT EXISTS runs (
    id               INTEGER PRIMARY KEY,
    experiment_id    INTEGER NOT NULL REFERENCES experiments(id),
    model_id         INTEGER NOT NULL REFERENCES models(id),
    config_id        INTEGER NOT NULL REFERENCES method_configs(id),
    ordinal          INTEGER NOT NULL,     -- position in the expanded experiment
    label            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    started_at       TEXT,
    finished_at      TEXT,
    seconds          REAL,                 -- wall time of the whole run
    quantize_seconds REAL,
    error            TEXT,
    UNIQUE (experiment_id, model_id, config_id)
);

-- Bits per parameter, from the bytes of the packed parts (never from a formula).
CREATE TABLE IF NOT EXISTS bpp (
    run_id            INTEGER PRIMARY KEY REFERENCES runs(id),
    tensors_quantized INTEGER NOT NULL,
    params_total      INTEGER NOT NULL,
    params_quantized  INTEGER NOT NULL,
    bytes_total       INTEGER NOT NULL,    -- every tensor of the packed model
    bytes_quantized   INTEGER NOT NULL,
    bytes_kept        INTEGER NOT NULL,
    bpp_quantized     REAL,                -- scope (a): 8 bytes_quantized / params_quantized
    bpp_model         REAL NOT NULL,       -- scope (b): 8 bytes_total / params_total
    kept_dtype        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS bpp_parts (     -- breakdown (c) of bytes_quantized
    run_id INTEGER NOT NULL REFERENCES runs(id),
    kind   TEXT NOT NULL,                  -- codes, scales, zero points, codebooks, indices, outliers, ...
    bytes  INTEGER NOT NULL,
    PRIMARY KEY (run_id, kind)
);

-- Every quantized tensor of a run: its method (for mixed precision, the allocation), bytes and error.
CREATE TABLE IF NOT EXISTS tensors (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,             -- canonical spec used for this tensor
    rows        INTEGER NOT NULL,          -- (out, in) as the method saw it
    cols        INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,          -- of its packed parts
    rel_error   REAL,                      -- ||W - W_hat||_F / ||W||_F
    sensitivity REAL,                      -- mixed precision: tr(D H D^T) / calibration tokens
    PRIMARY KEY (run_id, name)
);

CREATE TABLE IF NOT EXISTS metrics (
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    task           TEXT NOT NULL,          -- 'ppl.wikitext2-test', 'fidelity.wikitext2-test', 'mmlu', ...
    metric         TEXT NOT NULL,          -- ppl, bits_per_byte, kl, top1, acc, acc_norm, acc_letter, target_ppl
    value          REAL NOT NULL,
    ci_low         REAL,                   -- 95% interval (bootstrap for ppl/kl, Wilson for accuracies)
    ci_high        REAL,
    n              INTEGER NOT NULL,       -- tokens or items
    chance         REAL,                   -- accuracy of a uniform guess, for accuracies
    protocol       TEXT NOT NULL,
    dataset_sha256 TEXT,
    PRIMARY KEY (run_id, task, metric)
);

-- Per-window (ppl, fidelity) and per-question (multiple choice) results, for paired statistics.
CREATE TABLE IF NOT EXISTS items (
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    task           TEXT NOT NULL,
    idx            INTEGER NOT NULL,
    item_key       TEXT NOT NULL,          -- window start, or "subject/index"
    correct        INTEGER,                -- multiple choice: acc
    correct_norm   INTEGER,
    correct_letter INTEGER,
    value          REAL,                   -- ppl: window NLL sum; fidelity: window KL sum; mc: gold log-likelihood
    n              INTEGER,                -- tokens in the window / positions
    detail         TEXT,                   -- JSON: every choice's log-likelihood, ...
    PRIMARY KEY (run_id, task, idx)
);

-- Claim audits (qharness audit): the verdict and its statistics, from the paired items of two runs.
CREATE TABLE IF NOT EXISTS audits (
    id              INTEGER PRIMARY KEY,
    claim           TEXT NOT NULL,
    claim_text      TEXT,
    claim_sha256    TEXT NOT NULL,
    experiment_id   INTEGER NOT NULL REFERENCES experiments(id),
    baseline_run    INTEGER NOT NULL REFERENCES runs(id),
    quantized_run   INTEGER NOT NULL REFERENCES runs(id),
    task            TEXT NOT NULL,
    metric          TEXT NOT NULL,
    claimed         REAL NOT NULL,         -- retained fraction claimed; 0: none (a bit-count claim, judged on claimed_bpp)
    claimed_bpp     REAL,
    retention       REAL NOT NULL,         -- accuracy: q / b; perplexity: ppl_b / ppl_q
    ci_low          REAL,                  -- paired bootstrap over items, 95%
    ci_high         REAL,
    chance_adjusted REAL,                  -- (q - chance) / (b - chance)
    ca_low          REAL,
    ca_high         REAL,
    n               INTEGER NOT NULL,
    verdict         TEXT NOT NULL CHECK (verdict IN ('SUPPORTED', 'REFUTED', 'INCONCLUSIVE')),
    items_needed    REAL,                  -- inconclusive: items for an interval of +-0.01 (the stated minimum effect)
    warnings        TEXT,
    created_at      TEXT NOT NULL,
    -- schema version 2:
    p_value         REAL,                  -- two-sided, of retention = claimed; NULL: no test made (see warnings)
    discordant      INTEGER,               -- accuracy: items where the runs disagree
    registration    TEXT,                  -- 'pre-registered', 'post hoc', 'not committed'
    claim_commit    TEXT,                  -- the commit that last changed the claim file
    registration_note TEXT
);

CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id, status);

-- Slurm array tasks of a sweep submitted with --slurm: which task of which job runs which run
-- (sweep_slurm.c).  The tasks write shard databases, never this file; `qharness merge`
-- copies their finished runs in.
CREATE TABLE IF NOT EXISTS slurm_tasks (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    submission   INTEGER NOT NULL,         -- 1 for the first sbatch of the experiment, one more per --resume
    job_id       TEXT NOT NULL,            -- the array job
    array_index  INTEGER NOT NULL,         -- its task that runs this run
    merge_job_id TEXT,                     -- the dependent merge job, if one was submitted
    submitted_at TEXT NOT NULL,
    PRIMARY KEY (run_id, submission)
);
