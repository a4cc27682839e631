"""What a bug report holds about the image (declared by ``image.present``): ``podman image
inspect`` reduced to ids, dates, labels and the run config, secret-looking values withheld."""
from __future__ import annotations

import json

from spotidoctor.api import Context
from spotidoctor.bundle.secrets import is_secret_name
from spotidoctor.bundle.spec import BundleSpec

IMAGE_KEYS = ("Id", "Digest", "RepoTags", "RepoDigests", "Created", "Architecture", "Os", "Size", "Labels",
              "User", "Author")
IMAGE_CONFIG_KEYS = ("User", "Entrypoint", "Cmd", "WorkingDir", "Labels", "Env")


def image_evidence(spec: BundleSpec, ctx: Context) -> None:
    spec.add_command(("podman", "image", "inspect", ctx.config.image), "image/inspect.json", timeout_s=20,
                     max_bytes=256 * 1024, transform=image_summary)


def image_summary(text: str) -> str:
    """Labels, ids, dates and the run config of the image; never its full environment values."""
    try:
        data = json.loads(text)
    except ValueError:
        return text  # podman's own error text; redaction still applies
    images = data if isinstance(data, list) else [data]
    return json.dumps([_image(i) for i in images if isinstance(i, dict)], indent=2) + "\n"


def _image(image: dict[str, object]) -> dict[str, object]:
    kept: dict[str, object] = {k: image[k] for k in IMAGE_KEYS if k in image}
    config = image.get("Config")
    if isinstance(config, dict):
        kept["Config"] = {k: config[k] for k in IMAGE_CONFIG_KEYS if k in config}
        env = config.get("Env")
        if isinstance(env, list):
            kept["Config"]["Env"] = [_env_entry(str(e)) for e in env]  # type: ignore[index]
    return kept


def _env_entry(entry: str) -> str:
    name, _, value = entry.partition("=")
    return f"{name}=<withheld>" if is_secret_name(name) else entry
