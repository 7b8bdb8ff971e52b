-- Which GPU adapter ran a simulation, and at which precision (GPU runs compute in f32).
ALTER TABLE results ADD COLUMN adapter TEXT NOT NULL DEFAULT '';
ALTER TABLE results ADD COLUMN arithmetic TEXT NOT NULL DEFAULT 'f64';
