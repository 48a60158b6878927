"""A small kustomize, enough for `deploy/kubernetes/` and nothing more.

No kubectl or kustomize binary is installed where the tests run, so the kustomizations are
rendered here: `resources:` (files and directories, followed recursively), `namespace:`, and
`patches:` given by `path:` holding strategic-merge patches (a patch names its target by
kind and name). Anything else in a kustomization is refused rather than ignored, so that
this loader and `kubectl apply -k` cannot silently disagree about what a file means.

Strategic merge, as far as these manifests use it: mappings merge key by key; in built-in
kinds a list of mappings that all have a `name` merges item by item on it (containers,
env, ports); other lists, and every list in a custom resource (kustomize has no schema for
those and applies a JSON merge patch), are replaced whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "patches"}
# Kinds without a namespace among those these manifests use.
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}
# Built-in API groups: strategic merge (lists merged by `name`) applies to their kinds.
_BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io"}


class KustomizeError(Exception):
    pass


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file, as YAML 1.2 (the way kubectl's parser reads
    the values these files use; `test_yaml_1_1_and_1_2_agree` holds them to it)."""
    return [doc for doc in YAML(typ="safe", pure=True).load_all(path.read_text()) if doc]


def api_group(resource: dict[str, Any]) -> str:
    api_version = str(resource["apiVersion"])
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def key(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources `kubectl apply -k directory` would send, in order."""
    kustomization_file = directory / "kustomization.yaml"
    if not kustomization_file.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    [kustomization] = load_yaml_documents(kustomization_file)
    unsupported = set(kustomization) - SUPPORTED_KEYS
    if unsupported:
        raise KustomizeError(f"{kustomization_file}: unsupported {sorted(unsupported)}")
    if kustomization.get("kind") != "Kustomization":
        raise KustomizeError(f"{kustomization_file}: kind must be Kustomization")

    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(render(target))
        elif target.is_file():
            resources.extend(load_yaml_documents(target))
        else:
            raise KustomizeError(f"{kustomization_file}: {entry} does not exist")
    _refuse_duplicates(resources, kustomization_file)

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{kustomization_file}: only `patches: - path:` is supported")
        for patch in load_yaml_documents(directory / patch_entry["path"]):
            _apply_patch(resources, patch, patch_entry["path"])

    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = namespace
    return resources


def _refuse_duplicates(resources: Iterable[dict[str, Any]], where: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for resource in resources:
        identity = (api_group(resource), *key(resource))
        if identity in seen:
            raise KustomizeError(f"{where}: {identity} appears twice")
        seen.add(identity)


def _apply_patch(resources: list[dict[str, Any]], patch: dict[str, Any], source: str) -> None:
    targets = [
        index
        for index, resource in enumerate(resources)
        if key(resource) == key(patch) and api_group(resource) == api_group(patch)
    ]
    if len(targets) != 1:
        raise KustomizeError(f"{source}: patch {key(patch)} matches {len(targets)} resources")
    [index] = targets
    builtin = api_group(patch) in _BUILTIN_GROUPS
    resources[index] = strategic_merge(resources[index], patch, by_name=builtin)


def strategic_merge(base: Any, patch: Any, *, by_name: bool) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for name, value in patch.items():
            if value is None:  # `key: null` deletes, as in a merge patch
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value, by_name=by_name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if by_name and _named_items(base) and _named_items(patch):
        merged_list = copy.deepcopy(base)
        positions = {item["name"]: position for position, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in positions:
                position = positions[item["name"]]
                merged_list[position] = strategic_merge(
                    merged_list[position], item, by_name=by_name
                )
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _named_items(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "name" in item for item in value)
    )
