"""moto's IAM/STS server on loopback, made faithful enough to stand in for AWS.

The sandbox and the tests talk to AWS through real boto3 over HTTP, so the AWS side of
the embedded world is moto's `ThreadedMotoServer`. Four things about moto 5.2.5 would
make it a worse stand-in than it needs to be, and are corrected here, in one place:

- CreateSAMLProvider of an existing name: AWS answers EntityAlreadyExists; moto
  silently replaces the provider (metadata, and so ownership) — exactly the overwrite
  the engine's ownership rules exist to prevent.
- SAML provider tags: AWS accepts `Tags` on CreateSAMLProvider and returns them from
  GetSAMLProvider (and has Tag/Untag/ListSAMLProviderTags); moto drops them and lacks
  the three calls. The engine decides ownership of providers by that tag, exactly as
  for roles, so the sandbox must keep it.
- GetAccountAuthorizationDetails pagination: AWS pages it (`MaxItems`, default 100,
  `Marker`); moto always answers everything in one page, which would hide paging bugs
  and make call-count tests meaningless.
- Start-up cost: with AWS managed policies loaded, moto builds ~1,600 policy objects
  per account *per partition* (6 partitions) on the first request that names an
  account, ~0.8 s each. The engine only uses the `aws` partition, so the others get
  none, and the bundled JSON is parsed once.

`MOTO_IAM_LOAD_MANAGED_POLICIES=true` is set before start: without it AWS managed
policy ARNs (arn:aws:iam::aws:policy/...) cannot be attached.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from typing import Any

MANAGED_POLICIES_ENV = "MOTO_IAM_LOAD_MANAGED_POLICIES"
# The only partition the engine's ARNs use; moto keeps one IAM backend per partition.
ENGINE_PARTITION = "aws"
GAAD_DEFAULT_MAX_ITEMS = 100  # AWS's documented default page size

_patch_lock = threading.Lock()
_patched = False


def _patch_managed_policy_loading() -> None:
    from moto import settings
    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    parsed: dict[str, Any] = json.loads(aws_managed_policies_data)

    def _init_aws_policies(self: Any) -> list[Any]:
        if not settings.load_iam_aws_managed_policies() or self.region_name != ENGINE_PARTITION:
            return []
        # Each account needs its own objects: moto keeps attachment counts on them.
        return [
            models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
            for name, data in parsed.items()
        ]

    setattr(models.IAMBackend, "_init_aws_policies", _init_aws_policies)  # noqa: B010


def _patch_saml_provider_tags() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iam.exceptions import EntityAlreadyExists
    from moto.iam.responses import IamResponse

    original_create = IamResponse.create_saml_provider
    original_delete = IamResponse.delete_saml_provider

    def create_saml_provider(self: Any) -> Any:
        name = self._get_param("Name")
        if name in self.backend.saml_providers:  # AWS refuses; moto would overwrite it
            raise EntityAlreadyExists(f"SAMLProvider {name} already exists")
        result = original_create(self)
        tags = self._get_param("Tags", [])
        if tags:
            provider = self.backend.saml_providers[self._get_param("Name")]
            self.backend.tagger.tag_resource(provider.arn, tags)
        return result

    def get_saml_provider(self: Any) -> Any:
        arn = self._get_param("SAMLProviderArn")
        provider = self.backend.get_saml_provider(arn)  # NoSuchEntity when absent
        return ActionResult(
            {
                "SAMLMetadataDocument": provider.saml_metadata_document,
                "CreateDate": provider.create_date,
                "ValidUntil": provider.valid_until,
                "Tags": self.backend.tagger.list_tags_for_resource(arn)["Tags"],
            }
        )

    def delete_saml_provider(self: Any) -> Any:
        arn = self._get_param("SAMLProviderArn")
        result = original_delete(self)
        self.backend.tagger.delete_all_tags_for_resource(arn)
        return result

    def tag_saml_provider(self: Any) -> Any:
        arn = self._get_param("SAMLProviderArn")
        self.backend.get_saml_provider(arn)
        self.backend.tagger.tag_resource(arn, self._get_param("Tags", []))
        return EmptyResult()

    def untag_saml_provider(self: Any) -> Any:
        arn = self._get_param("SAMLProviderArn")
        self.backend.get_saml_provider(arn)
        self.backend.tagger.untag_resource_using_names(arn, self._get_param("TagKeys", []))
        return EmptyResult()

    def list_saml_provider_tags(self: Any) -> Any:
        arn = self._get_param("SAMLProviderArn")
        self.backend.get_saml_provider(arn)
        tags = self.backend.tagger.list_tags_for_resource(arn)["Tags"]
        return ActionResult({"Tags": tags, "IsTruncated": False})

    setattr(IamResponse, "create_saml_provider", create_saml_provider)  # noqa: B010
    setattr(IamResponse, "get_saml_provider", get_saml_provider)  # noqa: B010
    setattr(IamResponse, "delete_saml_provider", delete_saml_provider)  # noqa: B010
    setattr(IamResponse, "tag_saml_provider", tag_saml_provider)  # noqa: B010
    setattr(IamResponse, "untag_saml_provider", untag_saml_provider)  # noqa: B010
    setattr(IamResponse, "list_saml_provider_tags", list_saml_provider_tags)  # noqa: B010


def _patch_gaad_pagination() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    lists = (
        ("UserDetailList", "users"),
        ("GroupDetailList", "groups"),
        ("RoleDetailList", "roles"),
        ("Policies", "managed_policies"),
    )

    def get_account_authorization_details(self: Any) -> Any:
        details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
        max_items = self._get_int_param("MaxItems", GAAD_DEFAULT_MAX_ITEMS)
        start = int(self._get_param("Marker") or 0)
        # One sequence across the four lists, as AWS pages them together.
        items = [(ours, item) for ours, theirs in lists for item in details[theirs]]
        page = items[start : start + max_items]
        result: dict[str, Any] = {ours: [i for k, i in page if k == ours] for ours, _ in lists}
        following = start + max_items
        result["IsTruncated"] = following < len(items)
        if result["IsTruncated"]:
            result["Marker"] = str(following)
        return ActionResult(result)

    setattr(IamResponse, "get_account_authorization_details", get_account_authorization_details)  # noqa: B010


def patch_moto() -> None:
    """Apply the corrections above, once per process (idempotent)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        _patch_managed_policy_loading()
        _patch_saml_provider_tags()
        _patch_gaad_pagination()
        _patched = True


class MotoServer:
    """A moto server on 127.0.0.1 (an OS-chosen port unless given), in this process."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> None:
        self._host = host
        self._port = port
        self._quiet = quiet
        self._server: Any = None
        self._endpoint_url = ""

    @property
    def endpoint_url(self) -> str:
        if not self._endpoint_url:
            raise RuntimeError("the moto server is not running")
        return self._endpoint_url

    def start(self) -> MotoServer:
        # moto reads this when it creates an account's IAM backend: set it first.
        os.environ[MANAGED_POLICIES_ENV] = "true"
        patch_moto()
        if self._quiet:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        return self

    def reset(self) -> None:
        """Forget every account's resources (moto's `POST /moto-api/reset`)."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._endpoint_url = ""

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_moto_server(*, host: str = "127.0.0.1", port: int = 0) -> MotoServer:
    """Start a patched moto server; the caller stops it (or use `with MotoServer()`)."""
    return MotoServer(host=host, port=port).start()
