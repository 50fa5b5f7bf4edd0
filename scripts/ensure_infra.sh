#!/usr/bin/env bash
# Make sure RabbitMQ (with its management plugin, which the tests use for a vhost per test) and
# PostgreSQL run on this machine; install them from Debian's packages when they are missing.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 90); do port_open "$1" && return 0; sleep 1; done
  echo "ensure_infra: nothing listens on port $1 after 90 s" >&2; return 1
}
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then echo "ensure_infra: $* missing and not root: install it" >&2; exit 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v rabbitmq-server >/dev/null; then apt_install rabbitmq-server; fi
if ! port_open 5672; then
  echo "ensure_infra: starting RabbitMQ"
  rabbitmq-server -detached
fi
wait_port 5672
if ! port_open 15672; then
  echo "ensure_infra: enabling the RabbitMQ management plugin"
  rabbitmq-plugins enable rabbitmq_management >/dev/null
fi
wait_port 15672

if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fi
if ! port_open 5432; then
  echo "ensure_infra: starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
wait_port 5432
# The tests connect as postgres over TCP without a password (trust), to database `test`.
if command -v psql >/dev/null; then
  if ! psql -h 127.0.0.1 -U postgres -d test -tAc 'select 1' >/dev/null 2>&1; then
    su postgres -c "psql -tAc \"select 1 from pg_database where datname='test'\"" | grep -q 1 \
      || su postgres -c "createdb test"
  fi
fi
echo "ensure_infra: RabbitMQ, its management API and PostgreSQL are up"
