-- Scripts and plugins hand devices a stored file by its name: the newest
-- file of that name wins.
CREATE INDEX files_by_name ON files (name, seq);
