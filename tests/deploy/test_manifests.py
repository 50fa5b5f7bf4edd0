"""Deployment files checked without a Docker engine or a cluster: every YAML parses, compose and
Kubernetes objects match their schemas, and the operational promises hold (each service migrates
before it starts, runs non-root, is probed, budgeted, scaled on its own queues)."""
import fnmatch
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from loket import topology

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICES = ("registration", "matching", "notification", "consent_export", "retention", "gateway")
MIGRATION_COMMAND = "alembic -c services/{}/alembic.ini upgrade head"
# What nameko uses when the config has no such key (nameko.web.server: WEB_SERVER_ADDRESS).
NAMEKO_DEFAULTS = {"WEB_SERVER_ADDRESS": "0.0.0.0:8000"}
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def k8s_name(service):
    return service.replace("_", "-")


def owned_queues(service):
    return {queue for queue in topology.SUBSCRIPTIONS if queue.split(".", 1)[0] == service}


def find(objects, kind, name):
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def selects(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# ---- every YAML file ------------------------------------------------------------------------

def test_every_yaml_file_under_deploy_parses_to_documents():
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(paths) > 40
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            documents = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
        assert documents, f"{path} holds no document"
        assert all(isinstance(doc, dict) for doc in documents), path


# ---- Dockerfile -----------------------------------------------------------------------------

def test_dockerfile_has_builder_and_slim_runtime_stage(dockerfile):
    global_args = dict(arg.split("=", 1) for kind, arg in dockerfile[0][1] if kind == "ARG")
    assert global_args["PYTHON_IMAGE"] == "python:3.11-slim"
    names = [name for name, _ in dockerfile[1:]]
    assert names == ["builder", "runtime"]
    for _, instructions in dockerfile[1:]:
        assert instructions[0] == ("FROM", "${PYTHON_IMAGE}")
    runtime = dict(dockerfile)["runtime"]
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime


def test_every_dockerfile_stage_ends_as_a_numeric_non_root_user(dockerfile):
    for name, instructions in dockerfile[1:]:
        users = [arguments for kind, arguments in instructions if kind == "USER"]
        assert users, f"stage {name} never leaves root"
        uid = users[-1].split(":")[0]
        # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
        assert uid.isdigit() and int(uid) != 0, f"stage {name} runs as {users[-1]}"


def test_runtime_stage_runs_the_service_with_nameko_and_checks_health_without_curl(dockerfile):
    runtime = dict(dockerfile)["runtime"]
    (cmd,) = [arguments for kind, arguments in runtime if kind == "CMD"]
    assert 'exec nameko run --config /app/config.yaml \\"$LOKET_SERVICE\\".service' in cmd
    env = " ".join(arguments for kind, arguments in runtime if kind == "ENV")
    assert "LOKET_SERVICE=${SERVICE}" in env
    (healthcheck,) = [arguments for kind, arguments in runtime if kind == "HEALTHCHECK"]
    assert "urllib.request" in healthcheck and "127.0.0.1:8000/health" in healthcheck
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "curl" not in text and "wget" not in text


def test_every_stage_that_uses_the_service_argument_declares_it(dockerfile):
    # ARG scope ends at FROM: a stage that forgets `ARG SERVICE` silently gets an empty string.
    for name, instructions in dockerfile[1:]:
        uses = any("$SERVICE" in arguments or "${SERVICE}" in arguments for _, arguments in instructions)
        if uses:
            assert ("ARG", "SERVICE") in instructions, f"stage {name} uses SERVICE without declaring it"


def test_runtime_image_holds_what_the_migration_job_runs(dockerfile):
    runtime = dict(dockerfile)["runtime"]
    copies = [arguments for kind, arguments in runtime if kind == "COPY"]
    assert ("WORKDIR", "/app") in runtime
    assert "services/${SERVICE}/alembic.ini ./services/${SERVICE}/alembic.ini" in copies
    assert "services/${SERVICE}/${SERVICE}/migrations ./services/${SERVICE}/${SERVICE}/migrations" in copies
    assert "services/${SERVICE}/config.yaml ./config.yaml" in copies


def _ignore_patterns(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _ignored(path, patterns):
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        for start in range(end):
            candidate = "/".join(parts[start:end])
            for pattern in patterns:
                if start == 0 and fnmatch.fnmatch(candidate, pattern):
                    return True
                if pattern.startswith("**/") and fnmatch.fnmatch(candidate, pattern[3:]):
                    return True
    return False


def test_docker_ignore_list_keeps_sources_and_drops_secrets_and_local_data():
    patterns = _ignore_patterns((DEPLOY / "docker" / "Dockerfile.dockerignore").read_text())
    readme = (DEPLOY / "docker" / "README.md").read_text()
    listed = re.search(r"## Build context ignore list.*?```\n(.*?)```", readme, re.DOTALL).group(1)
    assert _ignore_patterns(listed) == patterns, "README.md and Dockerfile.dockerignore differ"
    needed = ["requirements.txt", "libs/loket/pyproject.toml", "libs/loket/loket/outbox.py",
              "services/registration/pyproject.toml", "services/registration/registration/service.py",
              "services/registration/alembic.ini", "services/registration/config.yaml",
              "services/registration/registration/migrations/env.py",
              "services/notification/notification/templates/nl/reminder.txt"]
    for path in needed:
        assert not _ignored(path, patterns), f"{path} is needed by the image but ignored"
    unwanted = [".env", "deploy/.env", ".venv/bin/python", "var/registration.sqlite",
                "services/registration/var/x.sqlite", "services/registration/tests/unit/test_x.py",
                ".git/HEAD", "libs/loket/loket/__pycache__/outbox.cpython-311.pyc", "secrets/tls.key"]
    for path in unwanted:
        assert _ignored(path, patterns), f"{path} would reach the build context"


# ---- docker compose -------------------------------------------------------------------------

def test_compose_file_matches_the_compose_specification(compose, compose_schema):
    validator = jsonschema.validators.validator_for(compose_schema)(compose_schema)
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(compose)]
    assert errors == []


def test_compose_schema_check_rejects_a_misspelt_field(compose, compose_schema):
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    validator = jsonschema.validators.validator_for(compose_schema)(compose_schema)
    assert list(validator.iter_errors(broken))


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_starts_only_after_its_migration_job_succeeded(compose, service):
    services = compose["services"]
    job, app = services[f"{service}-migrate"], services[service]
    assert " ".join(job["command"]) == MIGRATION_COMMAND.format(service)
    assert job["image"] == app["image"] == f"loket/{service}:${{LOKET_TAG:-dev}}"
    assert job["build"] == app["build"]
    assert app["build"]["args"]["SERVICE"] == service
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == DEPLOY / "docker" / "Dockerfile"
    assert job["restart"] == "no"
    assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["depends_on"][f"{service}-migrate"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The job migrates the same database the service then uses.
    assert job["environment"]["DATABASE_URL"] == app["environment"][f"{service.upper()}_DATABASE_URL"]
    assert job["environment"]["DATABASE_URL"].startswith(f"postgresql://{service}:")
    assert job["environment"]["DATABASE_URL"].endswith(f"@postgres:5432/{service}")


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_is_health_checked_and_configured_by_convention(compose, service):
    app = compose["services"][service]
    test = " ".join(app["healthcheck"]["test"])
    assert "urllib.request" in test and "http://127.0.0.1:8000/health" in test
    assert not app["healthcheck"].get("disable", False)
    env = app["environment"]
    assert env["AMQP_URI"].startswith("amqp://") and env["AMQP_URI"].endswith("@rabbitmq:5672/")
    assert env["QUEUE_TYPE"] == "quorum"
    assert env["WEB_SERVER_ADDRESS"] == "0.0.0.0:8000"
    assert int(app["stop_grace_period"].rstrip("s")) >= 30
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]


def test_compose_infrastructure_is_health_checked(compose):
    for name in ("rabbitmq", "postgres", "mailpit"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_only_the_gateway_is_published_and_tools_listen_on_localhost(compose):
    services = compose["services"]
    assert services["gateway"]["ports"] == ["8000:8000"]
    for service in SERVICES:
        if service != "gateway":
            assert "ports" not in services[service], service
            assert "ports" not in services[f"{service}-migrate"], service
    for name in ("rabbitmq", "postgres", "mailpit"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name


def test_compose_rabbitmq_declares_quorum_queues_by_default(compose):
    rabbitmq = compose["services"]["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:3.13-management"
    assert rabbitmq["hostname"] == "rabbitmq"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in rabbitmq["volumes"]}
    conf = (DEPLOY / mounts["/etc/rabbitmq/conf.d/20-loket.conf"]).read_text()
    settings = dict(line.split("=", 1) for line in conf.splitlines() if line.strip() and not line.startswith("#"))
    assert {key.strip(): value.strip() for key, value in settings.items()} == {"default_queue_type": "quorum"}


def test_compose_postgres_16_creates_one_database_and_role_per_service(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    sql = (DEPLOY / mounts["/docker-entrypoint-initdb.d/init.sql"]).read_text()
    assert sorted(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", sql)) == sorted((s, s) for s in SERVICES)
    assert sorted(re.findall(r"REVOKE ALL ON DATABASE (\w+) FROM PUBLIC;", sql)) == sorted(SERVICES)
    # Each role's password is read from an environment variable the container is given.
    for variable in re.findall(r"\\getenv \w+ (\w+)", sql):
        assert variable in postgres["environment"], variable
    assert len(re.findall(r"\\getenv", sql)) == len(SERVICES)


def test_notification_mail_goes_to_the_mail_catcher(compose):
    notification = compose["services"]["notification"]
    assert notification["environment"]["SMTP_HOST"] == "mailpit"
    assert notification["depends_on"]["mailpit"]["condition"] == "service_healthy"
    assert compose["services"]["mailpit"]["image"].startswith("axllent/mailpit:v")


PARTNER_SETTINGS = ("KIND_EN_GEZIN_TRANSPORT", "KIND_EN_GEZIN_URL", "KIND_EN_GEZIN_TOKEN",
                    "LOP_TRANSPORT", "LOP_URL", "LOP_TOKEN")


def test_consent_export_gets_its_partners_and_log_key_in_compose_and_kubernetes(compose, base_objects):
    from consent_export.partners import transports

    config = (REPO / "services" / "consent_export" / "config.yaml").read_text()
    read = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):", config))
    assert {*PARTNER_SETTINGS, "CONSENT_EXPORT_LOG_KEY"} <= read, "config.yaml reads other names now"
    # compose: partner settings from deploy/.env (no transfer leaves the machine by default), the
    # key required, the exported files on a volume.
    app = compose["services"]["consent_export"]
    for name in PARTNER_SETTINGS:
        assert app["environment"][name].startswith(f"${{{name}:-"), name
    assert app["environment"]["CONSENT_EXPORT_LOG_KEY"].startswith("${CONSENT_EXPORT_LOG_KEY:?")
    assert "consent-exports:/app/var" in app["volumes"] and "consent-exports" in compose["volumes"]
    # Kubernetes: endpoints in the ConfigMap, tokens and key only from Secrets.
    (container,) = pod_spec(find(base_objects, "Deployment", "consent-export"))["containers"]
    secrets = {env["name"]: (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
               for env in container["env"] if "secretKeyRef" in env.get("valueFrom", {})}
    assert secrets["KIND_EN_GEZIN_TOKEN"] == ("consent-export-partners", "kind-en-gezin-token")
    assert secrets["LOP_TOKEN"] == ("consent-export-partners", "lop-token")
    assert secrets["CONSENT_EXPORT_LOG_KEY"] == ("consent-export-log-key", "key")
    data = find(base_objects, "ConfigMap", "consent-export-config")["data"]
    assert not [name for name in data if re.search("TOKEN|PASSWORD|KEY", name)]
    # What the pod gets is a partner configuration the service accepts (https, http transport).
    for partner in ("kind_en_gezin", "lop"):
        prefix = partner.upper()
        settings = {"TRANSPORT": data[f"{prefix}_TRANSPORT"], "URL": data[f"{prefix}_URL"], "TOKEN": "from-secret"}
        [transport] = transports({"PARTNERS": {partner: settings}}, partner, 1)
        assert type(transport).__name__ == "HttpPartnerTransport"


def test_env_example_defines_every_variable_compose_reads_and_no_real_secret():
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", compose_text))
    example = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    for key, value in example.items():
        if "PASSWORD" in key:
            assert value.startswith("replace-with-"), key
    assert example["ENCRYPTION_KEYS"] == ""
    # Required values make compose refuse to start instead of running with an empty secret.
    for key in ("RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "ENCRYPTION_KEYS"):
        assert f"${{{key}:?" in compose_text, key


# ---- Kubernetes: schemas --------------------------------------------------------------------

@pytest.mark.parametrize("tree", ["base_objects", "production_objects"])
def test_every_kubernetes_object_matches_its_schema(request, manifest_validator, tree):
    objects = request.getfixturevalue(tree)
    problems = {f"{obj['kind']}/{obj['metadata']['name']}": manifest_validator.errors(obj) for obj in objects}
    assert {name: errors for name, errors in problems.items() if errors} == {}


def test_schema_check_rejects_misspelt_fields_in_builtin_and_custom_kinds(base_objects, manifest_validator):
    deployment = yaml.safe_load(yaml.safe_dump(find(base_objects, "Deployment", "matching")))
    pod_spec(deployment)["containers"][0]["readinesProbe"] = pod_spec(deployment)["containers"][0].pop("readinessProbe")
    assert manifest_validator.errors(deployment)
    scaled = yaml.safe_load(yaml.safe_dump(find(base_objects, "ScaledObject", "matching")))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    assert manifest_validator.errors(scaled)
    scaled = yaml.safe_load(yaml.safe_dump(find(base_objects, "ScaledObject", "matching")))
    scaled["spec"]["triggers"][0]["metadata"]["value"] = 200  # KEDA wants strings here
    assert manifest_validator.errors(scaled)


def test_every_resource_quantity_is_well_formed(base_objects):
    for obj in base_objects:
        if obj["kind"] in ("Deployment", "Job"):
            for container in pod_spec(obj)["containers"]:
                for section in ("requests", "limits"):
                    for resource, quantity in container["resources"][section].items():
                        assert QUANTITY.match(str(quantity)), f"{obj['metadata']['name']} {resource}={quantity}"


# ---- Kubernetes: each service ---------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_probed_bounded_non_root_deployment(base_objects, service):
    deployment = find(base_objects, "Deployment", k8s_name(service))
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], template_labels)
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    spec = pod_spec(deployment)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["terminationGracePeriodSeconds"] >= 30
    (container,) = spec["containers"]
    assert container["image"] == f"loket/{service}:dev"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # Liveness must be more patient than readiness: a short outage makes pods unready, not restart.
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert (liveness["periodSeconds"] * liveness["failureThreshold"]
            > readiness["periodSeconds"] * readiness["failureThreshold"])
    for section in ("requests", "limits"):
        assert set(container["resources"][section]) == {"cpu", "memory"}, section
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/tmp" in mounts, "a read-only root needs a writable /tmp"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_disruption_budget_and_a_service_selecting_its_pods(base_objects, service):
    deployment = find(base_objects, "Deployment", k8s_name(service))
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = find(base_objects, "PodDisruptionBudget", k8s_name(service))
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)
    assert budget["spec"]["maxUnavailable"] == 1
    k8s_service = find(base_objects, "Service", k8s_name(service))
    assert selects(k8s_service["spec"]["selector"], labels)
    assert k8s_service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_non_root_migration_job_on_the_same_image_and_database(base_objects, service):
    deployment = find(base_objects, "Deployment", k8s_name(service))
    job = find(base_objects, "Job", f"{k8s_name(service)}-migrate")
    spec = pod_spec(job)
    (migrate,) = spec["containers"]
    (app,) = pod_spec(deployment)["containers"]
    assert " ".join(migrate["command"]) == MIGRATION_COMMAND.format(service)
    assert migrate["image"] == app["image"]
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True
    job_env = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in migrate["env"]}
    app_env = {env["name"]: env.get("valueFrom", {}).get("secretKeyRef") for env in app["env"]}
    assert job_env["DATABASE_URL"] == app_env[f"{service.upper()}_DATABASE_URL"]
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    # The Deployment's selector must not adopt the migration pods.
    assert not selects(deployment["spec"]["selector"]["matchLabels"], job["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("service", [s for s in SERVICES if owned_queues(s)])
def test_each_consumer_scales_on_exactly_its_subscription_queues(base_objects, service):
    scaled = find(base_objects, "ScaledObject", k8s_name(service))
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": k8s_name(service)}
    assert scaled["spec"]["minReplicaCount"] >= 1, "timers and the outbox relay need a running pod"
    triggers = scaled["spec"]["triggers"]
    assert {trigger["type"] for trigger in triggers} == {"rabbitmq"}
    assert {trigger["metadata"]["queueName"] for trigger in triggers} == owned_queues(service)
    for trigger in triggers:
        assert trigger["metadata"]["mode"] == "QueueLength"
        find(base_objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])


def test_every_subscription_queue_scales_a_deployment(base_objects):
    scaled_queues = {trigger["metadata"]["queueName"]
                     for obj in base_objects if obj["kind"] == "ScaledObject" for trigger in obj["spec"]["triggers"]}
    assert scaled_queues == set(topology.SUBSCRIPTIONS)


def test_the_operations_guide_names_every_subscription_queue():
    operations = (REPO / "docs" / "operations.md").read_text()
    assert {queue for queue in topology.SUBSCRIPTIONS if f"`{queue}`" not in operations} == set()


def test_every_deployment_has_exactly_one_autoscaler(base_objects):
    targets = [obj["spec"]["scaleTargetRef"]["name"] for obj in base_objects
               if obj["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    deployments = [obj["metadata"]["name"] for obj in base_objects if obj["kind"] == "Deployment"]
    assert sorted(targets) == sorted(deployments)


def test_secrets_are_referenced_never_defined_and_all_documented(base_objects):
    assert not [obj for obj in base_objects if obj["kind"] == "Secret"]
    referenced = set()
    for obj in base_objects:
        if obj["kind"] in ("Deployment", "Job"):
            for container in pod_spec(obj)["containers"]:
                referenced |= {env["valueFrom"]["secretKeyRef"]["name"] for env in container.get("env", [])
                               if "secretKeyRef" in env.get("valueFrom", {})}
        if obj["kind"] == "TriggerAuthentication":
            referenced |= {ref["name"] for ref in obj["spec"]["secretTargetRef"]}
    assert "loket-amqp" in referenced and "registration-encryption" in referenced
    readme = (DEPLOY / "k8s" / "README.md").read_text()
    operations = (REPO / "docs" / "operations.md").read_text()
    for name in referenced:
        assert f"`{name}`" in readme, f"secret {name} is not in deploy/k8s/README.md"
        assert name in operations, f"secret {name} is not in docs/operations.md"


def test_every_config_map_a_pod_reads_exists(base_objects):
    config_maps = {obj["metadata"]["name"] for obj in base_objects if obj["kind"] == "ConfigMap"}
    for obj in base_objects:
        if obj["kind"] == "Deployment":
            for container in pod_spec(obj)["containers"]:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] in config_maps


def test_rabbitmq_runs_as_a_three_node_operator_cluster_with_quorum_default(base_objects):
    (cluster,) = [obj for obj in base_objects if obj["kind"] == "RabbitmqCluster"]
    assert cluster["spec"]["replicas"] == 3
    assert cluster["spec"]["image"].startswith("rabbitmq:3.13")
    assert "default_queue_type = quorum" in cluster["spec"]["rabbitmq"]["additionalConfig"].splitlines()


def test_postgresql_is_external(base_objects):
    images = [container["image"] for obj in base_objects if obj["kind"] in ("Deployment", "StatefulSet")
              for container in pod_spec(obj)["containers"]]
    assert not [image for image in images if "postgres" in image]
    assert "PostgreSQL is external" in (DEPLOY / "k8s" / "README.md").read_text()


def _deployment_env_names(objects, service):
    (container,) = pod_spec(find(objects, "Deployment", k8s_name(service)))["containers"]
    names = {env["name"] for env in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_compose_and_kubernetes_give_a_service_the_same_settings(base_objects, compose, service):
    environment = compose["services"][service]["environment"]
    assert _deployment_env_names(base_objects, service) == set(environment)
    # Once the service has its config.yaml, every setting we pass must be one it reads, or one
    # whose value is nameko's own default anyway (then an unread variable changes nothing).
    config = REPO / "services" / service / "config.yaml"
    if config.exists():
        read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", config.read_text()))
        unread = {name for name in environment if name not in read
                  and NAMEKO_DEFAULTS.get(name) != environment[name]}
        assert not unread, f"{service}/config.yaml never reads {sorted(unread)}"
        required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", config.read_text()))
        assert required <= set(environment), f"{service} needs {sorted(required - set(environment))}"


# ---- Kubernetes: production overlay ---------------------------------------------------------

def test_production_uses_quorum_queues_and_base_keeps_classic(base_objects, production_objects):
    assert find(production_objects, "ConfigMap", "loket-platform")["data"]["QUEUE_TYPE"] == "quorum"
    assert find(base_objects, "ConfigMap", "loket-platform")["data"]["QUEUE_TYPE"] == "classic"
    for obj in production_objects:
        if obj["kind"] == "Deployment":
            sources = [source["configMapRef"]["name"] for source in pod_spec(obj)["containers"][0]["envFrom"]]
            assert "loket-platform" in sources, obj["metadata"]["name"]


def test_production_runs_at_least_two_pods_of_every_service(production_objects):
    for service in SERVICES:
        if owned_queues(service):
            scaled = find(production_objects, "ScaledObject", k8s_name(service))["spec"]
            minimum, maximum = scaled["minReplicaCount"], scaled["maxReplicaCount"]
        else:
            scaler = find(production_objects, "HorizontalPodAutoscaler", k8s_name(service))["spec"]
            minimum, maximum = scaler["minReplicas"], scaler["maxReplicas"]
        assert 2 <= minimum <= maximum, service


def test_production_lives_in_its_namespace_with_released_images(production_objects):
    find(production_objects, "Namespace", "loket")
    for obj in production_objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "loket", obj["metadata"]["name"]
    for service in SERVICES:
        for kind, name in (("Deployment", k8s_name(service)), ("Job", f"{k8s_name(service)}-migrate")):
            (container,) = pod_spec(find(production_objects, kind, name))["containers"]
            assert container["image"] == f"registry.example.org/loket/{service}:0.1.0"
