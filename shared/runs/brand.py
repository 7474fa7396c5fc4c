"""Whose brand a tenant's emails and PDFs carry: its own when its settings set one.

The mailer and the renderer both ask `Brands.of(tenant)`; a tenant without
branding gets the environment's (`HERALD_BRANDING__*`). Logos are read once
per process by their content id: an id never changes its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from herald.shared.contract.tenant_settings import TenantBranding
from herald.shared.ports import Artifacts, TenantDirectory
from herald.shared.runs.text import Logo, read_logo
from herald.shared.runtime.settings import BrandingSettings


@dataclass(frozen=True, slots=True)
class Brand:
    branding: BrandingSettings
    logo: Logo | None = None
    #: Names the logo's bytes (a file path or a content id), for a render's share key.
    logo_id: str | None = None

    def shaping(self) -> dict[str, Any]:
        """What of the brand a branded render shows: a change must not reuse an old render."""
        branding = self.branding
        return {
            "name": branding.platform_name,
            "logo": self.logo_id,
            "base_url": branding.platform_base_url,
            "colour": branding.brand_colour,
            # Every report's footer links the definitions of its figures.
            "definitions": branding.definitions_link(),
        }


def environment_brand(base: BrandingSettings, logo: Logo | None = None) -> Brand:
    """The environment's brand; its logo is named by its file."""
    return Brand(base, logo, str(base.logo_file) if base.logo_file else None)


def branding_settings(brand: TenantBranding, base: BrandingSettings) -> BrandingSettings:
    """The tenant's brand over the environment's (whose artifact link base it keeps)."""
    return base.model_copy(
        update={
            "platform_name": brand.platform_name,
            "platform_base_url": brand.platform_base_url,
            "brand_colour": brand.brand_colour,
            "subject_prefix": brand.subject_prefix,
            "footer_text": brand.footer_text,
            "logo_url": None,
            "logo_file": None,
        }
    )


@dataclass(slots=True)
class Brands:
    base: BrandingSettings
    directory: TenantDirectory | None = None
    #: The GridFS bucket `brand_assets`.
    logos: Artifacts | None = None
    _default: Brand | None = None
    _logos: dict[str, Logo] = field(default_factory=dict)

    def default(self) -> Brand:
        if self._default is None:
            self._default = environment_brand(self.base, read_logo(self.base))
        return self._default

    async def of(self, tenant_id: str) -> Brand:
        settings = self.directory.settings(tenant_id) if self.directory else None
        if settings is None or settings.branding is None:
            return self.default()
        own = settings.branding
        logo = None
        if own.logo is not None and self.logos is not None:
            if own.logo.asset_id not in self._logos:
                data = await self.logos.read(own.logo.asset_id)
                self._logos[own.logo.asset_id] = Logo(
                    own.logo.filename, own.logo.content_type, data
                )
            logo = self._logos[own.logo.asset_id]
        asset_id = own.logo.asset_id if own.logo else None
        return Brand(branding_settings(own, self.base), logo, asset_id)
