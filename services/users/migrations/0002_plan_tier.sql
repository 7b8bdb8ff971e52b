-- The organisation's plan tier (free, starter, professional, enterprise, ultra): signed into
-- the access tokens this service issues, so that the gateway can pass it on (the simulation
-- service weights its fair-share queue by it). Every existing and new organisation is free
-- until changed.
ALTER TABLE organizations ADD COLUMN plan_tier TEXT NOT NULL DEFAULT 'free';
