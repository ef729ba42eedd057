DROP TABLE batch_jobs;
