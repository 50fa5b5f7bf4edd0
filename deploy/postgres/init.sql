-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d).
-- One database and one login role per service: no service can read another's database.
-- Passwords come from the container's environment (deploy/.env), never from this file.

\getenv registration_password REGISTRATION_DB_PASSWORD
\getenv matching_password MATCHING_DB_PASSWORD
\getenv notification_password NOTIFICATION_DB_PASSWORD
\getenv consent_export_password CONSENT_EXPORT_DB_PASSWORD
\getenv retention_password RETENTION_DB_PASSWORD
\getenv gateway_password GATEWAY_DB_PASSWORD

CREATE ROLE registration LOGIN PASSWORD :'registration_password';
CREATE DATABASE registration OWNER registration;
REVOKE ALL ON DATABASE registration FROM PUBLIC;

CREATE ROLE matching LOGIN PASSWORD :'matching_password';
CREATE DATABASE matching OWNER matching;
REVOKE ALL ON DATABASE matching FROM PUBLIC;

CREATE ROLE notification LOGIN PASSWORD :'notification_password';
CREATE DATABASE notification OWNER notification;
REVOKE ALL ON DATABASE notification FROM PUBLIC;

CREATE ROLE consent_export LOGIN PASSWORD :'consent_export_password';
CREATE DATABASE consent_export OWNER consent_export;
REVOKE ALL ON DATABASE consent_export FROM PUBLIC;

CREATE ROLE retention LOGIN PASSWORD :'retention_password';
CREATE DATABASE retention OWNER retention;
REVOKE ALL ON DATABASE retention FROM PUBLIC;

CREATE ROLE gateway LOGIN PASSWORD :'gateway_password';
CREATE DATABASE gateway OWNER gateway;
REVOKE ALL ON DATABASE gateway FROM PUBLIC;
