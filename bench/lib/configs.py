"""Config files for the servers under test (bench/README.md describes the scenarios).

Every server listens on 127.0.0.1 only; ports are picked by the caller.
"""

import json
import os

# The token minted by `bench-upstream mint` carries these (bench/upstream/main.rs).
ISSUER = "https://issuer.bench.local/"
AUDIENCE = "bench"


def gatehouse_config(d, ports, upstream, rules_dir, api_port_key):
    """The gatehouse config for one instance: every handler the scenarios use, enabled
    globally; rules from `rules_dir`. Log level `warn` turns the per-request access log off
    (nginx and Envoy run without access logs too)."""
    cfg = {
        "serve": {
            "proxy": {"host": "127.0.0.1", "port": ports[api_port_key + "_proxy"]},
            "api": {"host": "127.0.0.1", "port": ports[api_port_key + "_api"]},
            "prometheus": {"host": "127.0.0.1", "port": 0},
        },
        "access_rules": {
            "matching_strategy": "regexp",
            "repositories": ["file://" + rules_dir],
        },
        "authenticators": {
            "anonymous": {"enabled": True, "config": {"subject": "guest"}},
            "jwt": {
                "enabled": True,
                "config": {
                    "jwks_urls": ["file://" + os.path.join(d, "jwt.public.json")],
                    "trusted_issuers": [ISSUER],
                    "target_audience": [AUDIENCE],
                    "allowed_algorithms": ["RS256"],
                },
            },
            "cookie_session": {
                "enabled": True,
                "config": {
                    "check_session_url": f"http://127.0.0.1:{upstream}/sessions/whoami",
                    "subject_from": "identity.id",
                    "extra_from": "identity.traits",
                    "preserve_path": True,
                    "cache": {"enabled": False, "ttl": "60s"},
                },
            },
        },
        "authorizers": {"allow": {"enabled": True}},
        "mutators": {
            "noop": {"enabled": True},
            "header": {
                "enabled": True,
                "config": {"headers": {"X-User": "{{ print .Subject }}"}},
            },
            "id_token": {
                "enabled": True,
                "config": {
                    "issuer_url": "https://gatehouse.bench.local/",
                    "jwks_url": "file://" + os.path.join(d, "idtoken.rs256.json"),
                },
            },
        },
        "errors": {"fallback": ["json"], "handlers": {"json": {"enabled": True}}},
        "log": {"level": "warn", "format": "text"},
    }
    return json.dumps(cfg, indent=1)


def _rule(rid, prefix, upstream, authn, mutators):
    return {
        "id": rid,
        "match": {
            "url": f"<http|https>://<[^/]+>/{prefix}/<.*>",
            "methods": ["GET"],
        },
        "upstream": {"url": f"http://127.0.0.1:{upstream}"},
        "authenticators": authn,
        "authorizer": {"handler": "allow"},
        "mutators": mutators,
    }


def gatehouse_rules(d, upstream):
    """The scenario rules (one per path prefix)."""
    header = [{"handler": "header"}]
    cookie = {"handler": "cookie_session"}
    cookie_cached = {"handler": "cookie_session", "config": {"cache": {"enabled": True}}}
    idt = {"claims": '{"aud": ["bench-upstream"]}'}
    return [
        _rule("anon", "anon", upstream, [{"handler": "anonymous"}], header),
        _rule("jwt", "jwt", upstream, [{"handler": "jwt"}], header),
        _rule("cookie-cache", "cookie-cache", upstream, [cookie_cached], header),
        _rule("cookie-nocache", "cookie-nocache", upstream, [cookie], header),
        _rule(
            "idtoken-rs256", "idt-rs", upstream, [{"handler": "anonymous"}],
            [{"handler": "id_token", "config": idt}],
        ),
        _rule(
            "idtoken-es256", "idt-es", upstream, [{"handler": "anonymous"}],
            [{
                "handler": "id_token",
                "config": dict(idt, jwks_url="file://" + os.path.join(d, "idtoken.es256.json")),
            }],
        ),
    ]


def many_rules(n, upstream):
    """`n` filler rules with distinct literal prefixes (none matches the scenario paths) plus
    the JWT rule, last, so G6 pays for the whole set."""
    rules = [
        _rule(f"svc-{i}", f"svc-{i}/v<[0-9]+>", upstream, [{"handler": "anonymous"}],
              [{"handler": "noop"}])
        for i in range(n)
    ]
    rules.append(_rule("jwt", "jwt", upstream, [{"handler": "jwt"}], [{"handler": "header"}]))
    return rules


def nginx_conf(d, ports, upstream, gh_api):
    """N1 (plain proxy), N2 (auth_request -> trivial endpoint), G4 (auth_request -> gatehouse
    /decisions). Keep-alive to every upstream, as a production nginx would be set up."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    auth_common = """
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""
    return f"""{user}worker_processes auto;
error_log {d}/nginx.error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/nginx-body;
    proxy_temp_path {d}/nginx-proxy;
    fastcgi_temp_path {d}/nginx-fastcgi;
    uwsgi_temp_path {d}/nginx-uwsgi;
    scgi_temp_path {d}/nginx-scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    upstream gh {{ server 127.0.0.1:{gh_api}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{ports['n1']};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{ports['n2']};
        location = /_auth {{
            proxy_pass http://app/auth;{auth_common}
        }}
        location / {{
            auth_request /_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{ports['g4']};
        location = /_auth {{
            proxy_pass http://gh/decisions$request_uri;{auth_common}
        }}
        location / {{
            auth_request /_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def _listener(name, port, filters):
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network."
                             "http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": name,
                    "route_config": {
                        "virtual_hosts": [{
                            "name": "all",
                            "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}],
                        }],
                    },
                    "http_filters": filters + [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http."
                                     "router.v3.Router",
                        },
                    }],
                },
            }],
        }],
    }


def envoy_conf(ports, upstream, public_jwks):
    """E1 (plain proxy) and E2 (jwt_authn RS256 with the JWKS inline), one process."""
    jwt = {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3."
                     "JwtAuthentication",
            "providers": {
                "bench": {
                    "issuer": ISSUER,
                    "audiences": [AUDIENCE],
                    "local_jwks": {"inline_string": public_jwks},
                    "forward": True,
                },
            },
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
        },
    }
    cfg = {
        "static_resources": {
            "listeners": [_listener("e1", ports["e1"], []), _listener("e2", ports["e2"], [jwt])],
            "clusters": [{
                "name": "app",
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {
                    "cluster_name": "app",
                    "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": upstream},
                    }}}]}],
                },
            }],
        },
    }
    return json.dumps(cfg, indent=1)
