DROP TABLE personas;
