-- The fair-share weight of each job (1, 2 or 3 from the submitter's plan tier, see
-- fair_share.rs), fixed at submit: the claim divides an organisation's slot time by it.
-- Jobs from before weights existed weigh 1.
ALTER TABLE simulations ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;

-- The claim reads the jobs that finished within the fair-share window.
CREATE INDEX simulations_finished ON simulations (finished_at_ms);
