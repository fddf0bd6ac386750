"""JupyterHub for a collapse-lab workshop on one machine (started by `collapse-lab hub`, docs/workshop.md).

Every value comes from a COLLAPSE_LAB_HUB_* variable that `collapse-lab hub` checks and sets
(collapse_lab/hub.py: environment); nothing here needs editing for a workshop. What it sets up:

- the standard proxy, configurable-http-proxy from npm (deploy/jupyterhub/package.json), on loopback ports of its own;
- a shared workshop password (JupyterHub's SharedPasswordAuthenticator) for the listed users; the instructor logs
  in with a second, long password as admin. The alternative for an institution: its own login, e.g.
  c.JupyterHub.authenticator_class = "generic-oauth" (pip install oauthenticator; GenericOAuthenticator with the
  institution's client id, secret and URLs) or an LMS through LTI 1.3 (pip install jupyterhub-ltiauthenticator,
  c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.authenticator.LTI13Authenticator");
- each user's server as a process of the hub's Unix user in its own home folder <root>/home/<user>
  (SimpleLocalProcessSpawner: no Unix users to create; it isolates folders, not users: for students who must not
  reach each other's files use "localprocess" with Unix users, as The Littlest JupyterHub does, or Kubernetes,
  deploy/z2jh/config.yaml);
- before each start, the user's own copy of notebooks/ and exercises/ refreshed with nbgitpuller's merge rule
  (collapse_lab.hub.sync: new files copied, files the user changed kept);
- the data sets and the language model's base read from one shared read-only folder (collapse-lab precache), the
  quick profile, no downloads;
- idle servers stopped by jupyterhub-idle-culler, run by the hub as a service.
"""
import os
import sys
from pathlib import Path

from collapse_lab.hub import ADMIN, sync

c = get_config()  # noqa: F821 (defined by JupyterHub when it loads this file)
env = os.environ
root = Path(env["COLLAPSE_LAB_HUB_ROOT"])
shared = Path(env["COLLAPSE_LAB_HUB_SHARED"])
course = Path(env["COLLAPSE_LAB_HUB_COURSE"])

# --- network: the public URL, the hub's internal port and the proxy's API, all given by `collapse-lab hub`
c.JupyterHub.bind_url = f"http://{env['COLLAPSE_LAB_HUB_IP']}:{env['COLLAPSE_LAB_HUB_PORT']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env["COLLAPSE_LAB_HUB_INTERNAL_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env['COLLAPSE_LAB_HUB_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [env["COLLAPSE_LAB_HUB_PROXY"]]
c.ConfigurableHTTPProxy.pid_file = str(root / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{root / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(root / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(root / "jupyterhub.pid")

# --- who logs in
users = set(env["COLLAPSE_LAB_HUB_USERS"].split(","))
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = env["COLLAPSE_LAB_HUB_PASSWORD"]
c.Authenticator.allowed_users = users
if env.get("COLLAPSE_LAB_HUB_ADMIN_PASSWORD"):
    c.SharedPasswordAuthenticator.admin_password = env["COLLAPSE_LAB_HUB_ADMIN_PASSWORD"]
    c.Authenticator.admin_users = {ADMIN}

# --- each user's server: a JupyterLab in <root>/home/<user>, the course's Python and kernel
c.JupyterHub.spawner_class = "simple"
home = str(root / "home" / "{username}")
c.SimpleLocalProcessSpawner.home_dir_template = home
c.Spawner.notebook_dir = home
c.Spawner.default_url = "/lab"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.ip = "127.0.0.1"
if hasattr(os, "geteuid") and os.geteuid() == 0:
    c.Spawner.args = ["--ServerApp.allow_root=True"]  # a CI container runs as root
c.Spawner.start_timeout = 180  # many servers starting at once on few cores
c.Spawner.http_timeout = 180
c.JupyterHub.active_server_limit = len(users)
c.Spawner.environment = {
    "COLLAPSE_LAB_PROFILE": env.get("COLLAPSE_LAB_HUB_PROFILE", "quick"),
    "COLLAPSE_LAB_DATA": str(shared / "data"),
    "COLLAPSE_LAB_CACHE": str(shared / "cache"),
    "COLLAPSE_LAB_OFFLINE": "1",  # a user's server never downloads a data set or model of its own
}


def pre_spawn_hook(spawner):
    """The user's own copy of the course, refreshed without overwriting their work."""
    done = sync(course, spawner.home_dir)
    spawner.log.info("course for %s: %d copied, %d updated, %d of theirs kept", spawner.user.name,
                     len(done["copied"]), len(done["updated"]), len(done["kept"]))


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- idle servers culled: jupyterhub-idle-culler as a hub-managed service with only the rights it needs
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={env.get('COLLAPSE_LAB_HUB_CULL', 3600)}",
                "--cull-every=60"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
