//! Monitor tests against a real PostgreSQL: `DATABASE_URL` when set, else a sandbox per process.
//! Scenarios are made with extra sessions holding and waiting for locks.

mod activity;
mod cli;
mod common;
mod control;
mod locks;
mod poller;
mod queries;
mod sizes;
