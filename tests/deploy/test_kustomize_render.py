"""The offline kustomize renderer the manifest tests rely on: it must do what kustomize does for the
fields we use, and refuse what it does not implement."""
import textwrap

import pytest


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: app
    spec:
      selector:
        matchLabels: {app: app}
      template:
        metadata:
          labels: {app: app}
        spec:
          containers:
            - name: app
              image: loket/app:dev
              env:
                - {name: A, value: "1"}
                - {name: B, value: "2"}
            - name: sidecar
              image: example/sidecar:1.0
    """


@pytest.fixture
def tree(tmp_path):
    write(tmp_path / "base" / "deployment.yaml", DEPLOYMENT)
    write(tmp_path / "base" / "kustomization.yaml", """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [deployment.yaml]
        """)
    return tmp_path


def test_overlay_patches_merge_named_lists_rewrite_images_and_set_namespace(tree, kustomize):
    write(tree / "overlay" / "patch.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app
        spec:
          template:
            spec:
              containers:
                - name: app
                  env:
                    - {name: B, value: "20"}
                    - {name: C, value: "3"}
        """)
    write(tree / "overlay" / "kustomization.yaml", """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: prod
        resources: [../base]
        images:
          - {name: loket/app, newName: registry.example.org/loket/app, newTag: "1.2.3"}
        patches:
          - path: patch.yaml
        """)
    (deployment,) = kustomize(tree / "overlay")
    app, sidecar = deployment["spec"]["template"]["spec"]["containers"]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert app["image"] == "registry.example.org/loket/app:1.2.3"
    assert sidecar == {"name": "sidecar", "image": "example/sidecar:1.0"}
    assert deployment["metadata"]["namespace"] == "prod"


def test_a_null_in_a_patch_removes_the_field(tree, kustomize):
    write(tree / "overlay" / "patch.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: app}
        spec:
          selector: null
        """)
    write(tree / "overlay" / "kustomization.yaml", """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [../base]
        patches: [{path: patch.yaml}]
        """)
    (deployment,) = kustomize(tree / "overlay")
    assert "selector" not in deployment["spec"]


@pytest.mark.parametrize("kustomization, message", [
    ("resources: [../base]\ncommonLabels: {a: b}\n", "does not implement"),
    ("resources: [../base]\npatches: [{path: patch.yaml, target: {kind: Deployment}}]\n", "only `patches: - path:`"),
    ("resources: [../base]\nimages: [{name: loket/other, newTag: '1'}]\n", "matches no container"),
    ("resources: [../base, ../missing]\n", "does not exist"),
    ("resources: [../base, ../base/deployment.yaml]\n", "defined twice"),
])
def test_renderer_refuses_what_it_cannot_render_faithfully(tree, kustomize, kustomize_error, kustomization, message):
    write(tree / "overlay" / "patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n")
    write(tree / "overlay" / "kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + kustomization)
    with pytest.raises(kustomize_error, match=message):
        kustomize(tree / "overlay")


def test_a_patch_for_an_object_that_does_not_exist_fails(tree, kustomize, kustomize_error):
    write(tree / "overlay" / "patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\n")
    write(tree / "overlay" / "kustomization.yaml", """\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [../base]
        patches: [{path: patch.yaml}]
        """)
    with pytest.raises(kustomize_error, match="matches 0 objects"):
        kustomize(tree / "overlay")
