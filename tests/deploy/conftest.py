"""Offline tools for the deployment tests: a kustomize renderer, a Dockerfile reader and schema validators.

No Docker engine, no cluster, no network: schemas come from pinned packages (kubernetes-validate for
built-in kinds, check-jsonschema's vendored compose-spec) and from tests/deploy/schemas/ for CRDs.

The renderer implements the subset of kustomize our trees use (resources, namespace, images,
strategic-merge patches by path) and refuses every other field, so a kustomization that starts
using a feature it does not know fails here instead of rendering differently from `kubectl kustomize`.
"""
import copy
import json
import re
from importlib import resources as importlib_resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.30.0"

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                        "PriorityClass", "StorageClass"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


class KustomizeError(Exception):
    pass


def load_documents(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _identity(obj):
    return obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "", obj["kind"], obj["metadata"]["name"]


def strategic_merge(target, patch):
    """Strategic merge for what our patches do: maps merge, `null` deletes, lists of named items merge
    by name, any other list is replaced."""
    for key, value in patch.items():
        if key.startswith("$"):
            raise KustomizeError(f"patch directive {key} is not supported by this renderer")
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        elif (isinstance(value, list) and isinstance(target.get(key), list)
              and all(isinstance(item, dict) and "name" in item for item in value + target[key])):
            by_name = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in by_name:
                    strategic_merge(by_name[item["name"]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _split_image(image):
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, None


def _containers(obj):
    if obj["kind"] not in POD_TEMPLATE_KINDS:
        return []
    spec = obj["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec.get("containers", [])


def render(directory):
    """Objects that `kubectl kustomize <directory>` would print, in resource order."""
    directory = Path(directory)
    documents = load_documents(directory / "kustomization.yaml")
    if len(documents) != 1:
        raise KustomizeError(f"{directory}: kustomization.yaml must hold exactly one document")
    kustomization = documents[0]
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise KustomizeError(f"{directory}: fields this renderer does not implement: {sorted(unknown)}")
    if (kustomization.get("apiVersion"), kustomization.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        raise KustomizeError(f"{directory}: not a kustomize.config.k8s.io/v1beta1 Kustomization")

    objects = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects.extend(render(path))
        elif path.is_file():
            objects.extend(load_documents(path))
        else:
            raise KustomizeError(f"{directory}: resource {entry} does not exist")
    seen = set()
    for obj in objects:
        if _identity(obj) in seen:
            raise KustomizeError(f"{directory}: {_identity(obj)} is defined twice")
        seen.add(_identity(obj))

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{directory}: only `patches: - path:` is supported, got {patch_entry}")
        for patch in load_documents(directory / patch_entry["path"]):
            targets = [obj for obj in objects if _identity(obj) == _identity(patch)]
            if len(targets) != 1:
                raise KustomizeError(f"{directory}: patch {patch_entry['path']} matches {len(targets)} objects")
            strategic_merge(targets[0], {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")})

    for image in kustomization.get("images", []):
        matched = False
        for obj in objects:
            for container in _containers(obj):
                name, tag = _split_image(container["image"])
                if name == image["name"]:
                    matched = True
                    new_tag = image.get("newTag", tag)
                    container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
        if not matched:
            raise KustomizeError(f"{directory}: images entry {image['name']} matches no container")

    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED_KINDS:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


# ---- schemas --------------------------------------------------------------------------------

def _kubernetes_definitions():
    root = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return json.loads((root / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json").read_text())


def _crd_validators():
    registry = Resource.from_contents(_kubernetes_definitions()) @ Registry()
    validators = {}
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        group_version, kind = path.stem.rsplit("-", 1)
        group, version = group_version.rsplit("-", 1)
        validators[(f"{group}/{version}", kind)] = jsonschema.Draft202012Validator(schema, registry=registry)
    return validators


class ManifestValidator:
    """Built-in kinds against Kubernetes' own schemas (strict: unknown fields fail), CRDs against ours."""

    def __init__(self):
        self.crds = _crd_validators()

    def errors(self, obj):
        key = (obj["apiVersion"], obj["kind"])
        if key in self.crds:
            return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in self.crds[key].iter_errors(obj)]
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [f"{'.'.join(map(str, error.path))}: {error.message}"]
        return []


def _compose_schema():
    vendor = importlib_resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


# ---- Dockerfile -----------------------------------------------------------------------------

def dockerfile_stages(path):
    """[(stage name, [(INSTRUCTION, arguments)])] with continuation lines joined and comments dropped.
    Instructions before the first FROM (global ARGs) are returned as stage None."""
    text = Path(path).read_text()
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    stages = [(None, [])]
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", arguments.strip(), re.IGNORECASE)
            stages.append((match.group(2), [("FROM", match.group(1))]))
        else:
            stages[-1][1].append((instruction, arguments.strip()))
    return stages


# ---- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def base_objects():
    return render(DEPLOY / "k8s" / "base")


@pytest.fixture(scope="session")
def production_objects():
    return render(DEPLOY / "k8s" / "overlays" / "production")


@pytest.fixture(scope="session")
def manifest_validator():
    return ManifestValidator()


@pytest.fixture(scope="session")
def compose():
    (document,) = load_documents(DEPLOY / "docker-compose.yml")
    return document


@pytest.fixture(scope="session")
def compose_schema():
    return _compose_schema()


@pytest.fixture(scope="session")
def dockerfile():
    return dockerfile_stages(DEPLOY / "docker" / "Dockerfile")


@pytest.fixture
def kustomize():
    """The renderer itself, for tests that build small trees in tmp_path."""
    return render


@pytest.fixture
def kustomize_error():
    return KustomizeError
