"""Pieces shared by the relay tests (test_relay_azure.py,
test_relay_extra.py, test_harden_relay.py): the corp registry's
configuration, a cargo that names it, and projects publishing to it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def project(path, name, version, deps="", lib_rs="pub fn f() -> u32 { 1 }\n", publish=True):
    """A cargo project that publishes to corp (or nowhere)."""
    return harness.make_project(path, name, version, deps=deps, lib_rs=lib_rs,
                                publish="corp" if publish else False,
                                description="relay test crate %s" % name)


def corp_registries(feed, ca_file, relay_writes=True, token_env="CORP_TOKEN", extra=""):
    text = ('[registries.corp]\nupstream = "%s"\nupstream_ca_file = "%s"\n'
            'upstream_token_env = "%s"\nindex_ttl = 300\n' % (feed.index_url, ca_file, token_env))
    if relay_writes is not None:
        text += "relay_writes = %s\n" % ("true" if relay_writes else "false")
    return text + extra


class CorpCargo(harness.CargoEnv):
    """A CargoEnv whose config names only [registries.corp] at a crated."""

    def set_port(self, port):
        self.port = port
        self.index_url = "sparse+http://127.0.0.1:%d/corp/" % port
        with open(os.path.join(self.home, "config.toml"), "w") as f:
            f.write('[registries.corp]\nindex = "%s"\n\n[net]\ngit-fetch-with-cli = false\n\n'
                    '[http]\ntimeout = 30\n' % self.index_url)

    def env(self, extra=None):
        e = {"CARGO_REGISTRIES_CORP_TOKEN": "anything"}
        e.update(extra or {})
        return super().env(e)
