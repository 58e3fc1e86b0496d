"""Production CalDAV servers for the test matrix: Cyrus IMAP (CalDAV), DAViCal and SOGo.

Each `start_*` function configures one server inside the folder it is given (its own config
files, its own data, its own PostgreSQL cluster where the server needs one), starts it on
127.0.0.1 on free ports, creates a service account and two counsellor users with the rights
the sync needs, waits until CalDAV answers, and returns a `RealServer`. `RealServer.stop()`
ends every process it started (each runs in its own process group, ended by its id).

The servers come from Debian 12 packages; `tests/realservers/install.sh` installs them. A missing
package raises `MissingPackage` naming that script: the tests fail, they never skip.

When the tests run as root (CI), the daemons run as their packages' system users (`cyrus`,
`postgres`, `sogo`, `memcache`, `www-data`): PostgreSQL and SOGo refuse to run as root. Those
users cannot enter pytest's folders (pytest keeps /tmp/pytest-of-root at mode 0700 and resets it
whenever a pytest session starts), so each daemon's own files live in a folder under /tmp that
`folder/<daemon>` links to; it is removed when the server stops (its logs are copied into
`folder` first).
"""

from __future__ import annotations

import contextlib
import glob
import grp
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.calendars import answer
from tests.servers import DavServer, free_port

INSTALL = "tests/realservers/install.sh"
SERVICE_USER = "kontaktsync"
# Counsellor ids without dots: Cyrus refuses `.` in collection names (see test_server_matrix).
COUNSELLORS = ("mmueller", "syilmaz")
CALENDAR = "kontaktdichte"
# Cyrus only: a counsellor whose id has a dot, to show what the sync does with one there.
CYRUS_DOTTED = "m.mueller"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class MissingPackage(RuntimeError):
    """A server's Debian package is not installed."""


@dataclass
class _Proc:
    """A process this module started, in its own process group, and how to end it."""

    name: str
    popen: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM
    grace_s: float = STOP_TIMEOUT_S  # how long it may take to end after stop_signal


@dataclass
class _Started:
    """What a start function has started so far: processes and other things to undo."""

    procs: list[_Proc] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.procs:
            _end(self.procs.pop())
        while self.cleanups:
            self.cleanups.pop()()


@dataclass
class RealServer(DavServer):
    """A running production server.

    `url_template` (with `{counsellor}`) goes into `target.caldav.url`; `username` and `password`
    are the service account's, which may write every counsellor's calendar; `counsellors` are
    the counsellor users that exist on the server. `url` is the base the template starts with.
    """

    template: str
    username: str
    password: str
    counsellors: tuple[str, ...]
    started: _Started = field(default_factory=lambda: _Started())

    def calendar_url(self, counsellor: str, calendar: str = CALENDAR) -> str:
        return self.template.replace(CALENDAR, calendar).format(counsellor=counsellor)

    @property
    def url_template(self) -> str:
        return self.template

    def stop(self) -> None:
        """End every process this server started, newest first."""
        self.started.close()

    def __repr__(self) -> str:  # never show the password
        return f"RealServer({self.name!r}, {self.template!r}, user={self.username!r})"


# ---------------------------------------------------------------------------- helpers


def _need(path: str, package: str) -> str:
    """The absolute path of an executable or file the server needs, or MissingPackage."""
    found = path if os.path.isabs(path) and os.path.exists(path) else shutil.which(path)
    if not found:
        raise MissingPackage(
            f"{path} not found: the Debian package {package} is missing; "
            f"run `sudo bash {INSTALL}` (installs every server of the test matrix)"
        )
    return found


def _is_root() -> bool:
    return os.geteuid() == 0


def _ids(user: str, group: str | None = None) -> tuple[int, int]:
    """uid and gid of a system user when running as root; our own ids otherwise."""
    if not _is_root():
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam(user)
    except KeyError as exc:
        raise MissingPackage(f"system user {user!r} missing: run `sudo bash {INSTALL}`") from exc
    return pw.pw_uid, grp.getgrnam(group).gr_gid if group else pw.pw_gid


def _own(path: Path, user: str, group: str | None = None) -> None:
    """Give `path` (recursively) to the user a daemon runs as."""
    if not _is_root():
        return
    uid, gid = _ids(user, group)
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, gid, follow_symlinks=False)


def _daemon_dir(folder: Path, name: str, started: _Started) -> Path:
    """A folder for one daemon's files, reachable by the user it runs as: `folder/name`.

    As root that is a link to a new folder under /tmp (mode 0711), removed by `started.close`
    after its logs were copied into `folder` (see the module docstring for why).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if not _is_root():
        (folder / name).mkdir()
        return folder / name
    path = Path(tempfile.mkdtemp(prefix=f"kontaktsync-{name}-"))
    path.chmod(0o711)
    (folder / name).symlink_to(path)

    def remove() -> None:
        for log in path.rglob("*.log"):
            with contextlib.suppress(OSError):
                shutil.copy(log, folder / f"{name}-{log.name}")
        shutil.rmtree(path, ignore_errors=True)

    started.cleanups.append(remove)
    return path


def _user_kwargs(user: str, group: str | None = None) -> dict[str, object]:
    if not _is_root():
        return {}
    uid, gid = _ids(user, group)
    return {"user": uid, "group": gid, "extra_groups": []}


def _spawn(
    name: str,
    cmd: list[str],
    log: Path,
    *,
    user: str,
    group: str | None = None,
    cwd: Path,
    env: dict[str, str] | None = None,
    stop_signal: int = signal.SIGTERM,
    grace_s: float = STOP_TIMEOUT_S,
) -> _Proc:
    """Start a long-running daemon in its own process group, output to `log` (opened by us, so it
    may be where the daemon's user cannot write); `cwd` must be a folder that user can enter."""
    with log.open("ab") as fh:
        popen = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(env or {})},
            start_new_session=True,
            **_user_kwargs(user, group),  # type: ignore[arg-type]
        )
    return _Proc(name, popen, stop_signal, grace_s)


def _run(
    cmd: list[str],
    *,
    user: str,
    group: str | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a setup command as `user`; its output on success, RuntimeError with it otherwise."""
    out = subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd or "/",
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(env or {})},
        **_user_kwargs(user, group),  # type: ignore[arg-type]
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({out.returncode}): {out.stdout}{out.stderr}")
    return out.stdout


def _end(proc: _Proc) -> None:
    """Signal the leader (it ends and reaps its own workers) and wait; then SIGKILL what is left:
    its process group and every process that was below it (SOGo's workers are session leaders
    of their own, outside the group, and outlive a watchdog that is killed)."""
    leader = proc.popen
    below: set[tuple[int, int]] = set()
    if leader.poll() is None:
        below = _descendants(leader.pid)
        leader.send_signal(proc.stop_signal)
        try:
            leader.wait(timeout=proc.grace_s)
        except subprocess.TimeoutExpired:
            below |= _descendants(leader.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)  # start_new_session: group id == leader's pid
    for pid, started_at in below:
        if _start_time(pid) == started_at:  # still that process, not a reused pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=STOP_TIMEOUT_S)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _descendants(pid: int) -> set[tuple[int, int]]:
    """(pid, start time) of every process below `pid`."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            parents.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[19])))
    found: set[tuple[int, int]] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def _tail(log: Path, n: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _check_alive(proc: _Proc, log: Path) -> None:
    if proc.popen.poll() is not None:
        raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {_tail(log)}")


def _wait_port(port: int, proc: _Proc, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_alive(proc, log)
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not listening on 127.0.0.1:{port} after {READY_TIMEOUT_S}s")


def propfind(url: str, user: str, password: str, depth: str = "0") -> tuple[int, bytes]:
    """One authenticated PROPFIND: (status, body); HTTP errors are returned, not raised."""
    body = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'
    return answer(
        url, "PROPFIND", body, {"Depth": depth, "Content-Type": "application/xml"}, (user, password)
    )


def _wait_dav(url: str, user: str, password: str, proc: _Proc, log: Path) -> None:
    """Wait until an authenticated PROPFIND on `url` answers 207."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        _check_alive(proc, log)
        try:
            status, body = propfind(url, user, password)
        except OSError as exc:
            last = str(exc)
        else:
            if status == 207:
                return
            last = f"{status}: {body[:300]!r}"
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name}: PROPFIND {url} not 207 after {READY_TIMEOUT_S}s ({last}): {_tail(log)}")


def _password() -> str:
    return secrets.token_urlsafe(18)  # [A-Za-z0-9_-] only: safe in SQL, config files and SASL


def _server(
    name: str, port: int, folder: Path, main: _Proc, started: _Started, path: str, pw: str
) -> RealServer:
    """The server whose calendars are at http://127.0.0.1:`port``path`{counsellor}/kontaktdichte/."""
    base = f"http://127.0.0.1:{port}{path}"
    template = base + "{counsellor}/" + CALENDAR + "/"
    return RealServer(
        name, base, "127.0.0.1", port, folder, main.popen, template, SERVICE_USER, pw, COUNSELLORS, started
    )


def _guarded(start: Callable[[_Started], RealServer]) -> RealServer:
    """Run `start`; on any failure end what it had started, then re-raise."""
    started = _Started()
    try:
        return start(started)
    except BaseException:
        started.close()
        raise


# ---------------------------------------------------------------------------- PostgreSQL


@dataclass
class _Postgres:
    proc: _Proc
    port: int
    socket_dir: Path
    bindir: Path

    @property
    def env(self) -> dict[str, str]:
        """libpq environment for clients of this cluster (psql, DBD::Pg, PHP's pgsql)."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port)}

    def psql(self, db: str, sql: str, user: str = "postgres") -> str:
        cmd = [str(self.bindir / "psql"), "-qXAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-U", user]
        return _run(cmd, user="postgres", env=self.env, input=sql)


def _postgres_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        _need("/usr/lib/postgresql/15/bin/initdb", "postgresql")
    return Path(found[-1]).parent


def _start_postgres(folder: Path, started: _Started) -> _Postgres:
    """A private cluster in `folder/pg`: trust on its own socket, md5 on 127.0.0.1."""
    bindir = _postgres_bindir()
    root = _daemon_dir(folder, "pg", started)
    data, sock = root / "data", root / "run"
    sock.mkdir(parents=True)
    _own(root, "postgres")
    _run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
         "--auth-local=trust", "--auth-host=md5", "--no-sync"],
        user="postgres",
    )  # fmt: skip
    port = free_port()
    log = folder / "postgres.log"
    cmd = [
        str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=60", "-c", "shared_buffers=32MB",
    ]  # fmt: skip
    proc = _spawn("postgres", cmd, log, user="postgres", cwd=root, stop_signal=signal.SIGINT)
    started.procs.append(proc)
    pg = _Postgres(proc, port, sock, bindir)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        _check_alive(proc, log)
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-q", "-h", str(sock), "-p", str(port)], check=False
        )
        if ready.returncode == 0:
            return pg
        if time.monotonic() > deadline:
            raise RuntimeError(f"postgres not ready after {READY_TIMEOUT_S}s: {_tail(log)}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------- DAViCal


def start_davical(folder: Path) -> RealServer:
    """DAViCal 1.1 under `php -S` on a private PostgreSQL cluster.

    DAViCal reads /etc/davical/config.php (the package's, untouched: `dbname=davical
    user=davical_app`); libpq's PGHOST/PGPORT point it at this folder's cluster instead of the
    system one. Users are rows in `usr` (password `**plain`) and `principal`; one `grants` row per
    counsellor gives the service account all rights on that counsellor's principal.
    """
    php = _need("php", "php-cli")
    _need("/usr/share/davical/htdocs/caldav.php", "davical")
    _need("/usr/share/davical/dba/create-database.sh", "davical")
    _need("/usr/share/perl5/YAML.pm", "libyaml-perl")
    _need("/etc/php/8.2/mods-available/pgsql.ini", "php-pgsql")

    def start(started: _Started) -> RealServer:
        pg = _start_postgres(folder, started)
        _run(
            ["/bin/sh", "/usr/share/davical/dba/create-database.sh", "davical", _password()],
            user="postgres",
            env={**pg.env, "PGUSER": "postgres"},
            cwd=pg.socket_dir,
        )
        pw = _password()
        people = [SERVICE_USER, *COUNSELLORS]
        sql = "".join(
            f"INSERT INTO usr (username, password, fullname, email) VALUES "
            f"('{u}', '**{pw if u == SERVICE_USER else _password()}', '{u}', '{u}@example.invalid');\n"
            f"INSERT INTO principal (type_id, user_no, displayname) "
            f"SELECT 1, user_no, '{u}' FROM usr WHERE username = '{u}';\n"
            for u in people
        )
        pid = "(SELECT principal_id FROM principal JOIN usr USING (user_no) WHERE username = '{}')"
        sql += "".join(
            "INSERT INTO grants (by_principal, to_principal, privileges, is_group) VALUES "
            f"({pid.format(c)}, {pid.format(SERVICE_USER)}, privilege_to_bits(ARRAY['all']), false);\n"
            for c in COUNSELLORS
        )
        pg.psql("davical", sql)
        port = free_port()
        log = folder / "davical.log"
        htdocs = "/usr/share/davical/htdocs"
        proc = _spawn(
            "davical",
            [php, "-S", f"127.0.0.1:{port}", "-t", htdocs],
            log,
            user="www-data",
            env={**pg.env, "PHP_CLI_SERVER_WORKERS": "4"},
            cwd=Path(htdocs),
        )
        started.procs.append(proc)
        server = _server("davical", port, folder, proc, started, "/caldav.php/", pw)
        _wait_dav(f"{server.url}{COUNSELLORS[0]}/", SERVICE_USER, pw, proc, log)
        return server

    return _guarded(start)


# ---------------------------------------------------------------------------- Cyrus IMAP


class _SyslogListener:
    """Cyrus logs only through syslog: while no /dev/log exists, take its datagrams into a file.

    Only created when /dev/log is missing (this machine has no syslog daemon), and removed again
    by `close` only if it is still the socket this listener made.
    """

    def __init__(self, path: Path) -> None:
        import threading

        self.sock: socket.socket | None = None
        self.inode = 0
        if os.path.exists("/dev/log") or not _is_root():
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind("/dev/log")
        except OSError:
            sock.close()
            return
        os.chmod("/dev/log", 0o666)
        self.sock, self.inode = sock, os.stat("/dev/log").st_ino
        self.out = path.open("ab", buffering=0)
        threading.Thread(target=self._pump, name="syslog", daemon=True).start()

    def _pump(self) -> None:
        sock = self.sock
        assert sock is not None
        with contextlib.suppress(OSError, ValueError):  # closed: the server has stopped
            while True:
                self.out.write(sock.recv(65536).rstrip(b"\0\n") + b"\n")

    def close(self) -> None:
        if self.sock is None:
            return
        with contextlib.suppress(OSError):
            if os.stat("/dev/log").st_ino == self.inode:
                os.unlink("/dev/log")
        self.sock.close()
        self.sock = None
        self.out.close()


def _cyrus_conf(root: Path, imap_port: int, http_port: int) -> tuple[Path, Path]:
    """imapd.conf and cyrus.conf for a Cyrus whose every path is below `root`."""
    imapd = root / "imapd.conf"
    imapd.write_text(
        f"""configdirectory: {root}/config
defaultpartition: default
partition-default: {root}/spool
proc_path: {root}/run/proc
mboxname_lockpath: {root}/run/lock
lmtpsocket: {root}/run/socket/lmtp
idlesocket: {root}/run/socket/idle
notifysocket: {root}/run/socket/notify
altnamespace: yes
unixhierarchysep: yes
admins: cyrus
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN
httpmodules: caldav
httpallowcompress: no
caldav_allowscheduling: no
syslog_prefix: cyrus-test
umask: 077
autocreate_quota: 0
""",
        encoding="utf-8",
    )
    master = root / "cyrus.conf"
    master.write_text(
        f"""START {{
  recover cmd="ctl_cyrusdb -C {imapd} -r"
}}
SERVICES {{
  imap cmd="imapd -C {imapd} -U 30" listen="127.0.0.1:{imap_port}" prefork=0 maxchild=10
  http cmd="httpd -C {imapd} -U 30" listen="127.0.0.1:{http_port}" prefork=1 maxchild=20
}}
EVENTS {{
  checkpoint cmd="ctl_cyrusdb -C {imapd} -c" period=30
}}
""",
        encoding="utf-8",
    )
    return imapd, master


def start_cyrus(folder: Path) -> RealServer:
    """Cyrus IMAP 3.6 with its CalDAV module: plain SASL from a sasldb in `folder`.

    Cyrus (without `fastmailsharing`) answers a request for another user's path with a 301 to
    the requester's own home, where a calendar shared with it appears as `<owner>.<name>`. So, as
    in an office: each counsellor owns a `kontaktdichte` calendar (made by the counsellor, with
    MKCALENDAR), the admin gives the service account all rights on it, and the service account
    reaches it as /dav/calendars/user/kontaktsync/<counsellor>.kontaktdichte/. The admin `cyrus`
    creates every user's mailbox first: without one, every CalDAV request is a 500 ("could not
    autoprovision calendars ... Invalid user"). `m.mueller` (a dotted id) is set up the same way.
    """
    master_bin = _need("/usr/lib/cyrus/bin/master", "cyrus-imapd")
    _need("/usr/lib/cyrus/bin/httpd", "cyrus-caldav")
    saslpasswd = _need("saslpasswd2", "sasl2-bin")
    cyradm = _need("cyradm", "cyrus-admin")
    _need("/usr/lib/x86_64-linux-gnu/sasl2/libplain.so", "libsasl2-modules")
    counsellors = (*COUNSELLORS, CYRUS_DOTTED)

    def start(started: _Started) -> RealServer:
        root = _daemon_dir(folder, "cyrus", started)
        for sub in ("config/db", "config/log", "spool", "run/proc", "run/lock", "run/socket"):
            (root / sub).mkdir(parents=True)
        imap_port, http_port = free_port(), free_port()
        imapd, master_conf = _cyrus_conf(root, imap_port, http_port)
        admin_pw, pw = _password(), _password()
        users = {"cyrus": admin_pw, SERVICE_USER: pw, **{c: _password() for c in counsellors}}
        for user, secret in users.items():
            _run([saslpasswd, "-f", str(root / "sasldb2"), "-p", "-c", user], user="root", input=secret)
        _own(root, "cyrus", "mail")
        log = folder / "cyrus-master.log"
        started.cleanups.append(_SyslogListener(folder / "cyrus-syslog.log").close)
        cmd = [master_bin, "-C", str(imapd), "-M", str(master_conf), "-p", str(root / "run/master.pid"), "-D"]
        proc = _spawn("cyrus", cmd, log, user="cyrus", group="mail", cwd=root)
        started.procs.append(proc)
        _wait_port(imap_port, proc, log)
        _wait_port(http_port, proc, log)
        _cyradm(cyradm, imap_port, admin_pw, "".join(f"cm user/{u}\n" for u in (SERVICE_USER, *counsellors)))
        homes = f"http://127.0.0.1:{http_port}/dav/calendars/user/"
        for c in counsellors:  # the owner's first request provisions the home; then the calendar
            _wait_dav(f"{homes}{c}/", c, users[c], proc, log)
            status = answer(f"{homes}{c}/{CALENDAR}/", "MKCALENDAR", auth=(c, users[c]))[0]
            if status != 201:
                raise RuntimeError(
                    f"cyrus: MKCALENDAR as {c}: HTTP {status}: {_tail(folder / 'cyrus-syslog.log')}"
                )
        acl = "".join(f"sam user/{c}/#calendars/{CALENDAR} {SERVICE_USER} all\n" for c in counsellors)
        _cyradm(cyradm, imap_port, admin_pw, acl)
        server = _server(
            "cyrus", http_port, folder, proc, started, f"/dav/calendars/user/{SERVICE_USER}/", pw
        )
        server.template = server.url + "{counsellor}." + CALENDAR + "/"
        _wait_dav(server.calendar_url(COUNSELLORS[0]), SERVICE_USER, pw, proc, log)
        return server

    return _guarded(start)


def _cyradm(cyradm: str, port: int, admin_pw: str, script: str) -> None:
    """Run cyradm commands as the admin `cyrus`; any error line fails."""
    out = _run(
        [
            cyradm,
            "--user",
            "cyrus",
            "--password",
            admin_pw,
            "--port",
            str(port),
            "--auth",
            "PLAIN",
            "127.0.0.1",
        ],
        user="root",  # cyradm reads nothing of Cyrus' files: any user will do
        input=script,
    )
    if "error" in out.lower():
        raise RuntimeError(f"cyradm: {out}")


# ---------------------------------------------------------------------------- SOGo


def _sogo_defaults(pg: _Postgres, db_pw: str, memcached_port: int, port: int) -> str:
    """SOGo's settings as GNUstep user defaults of the domain `sogod` (`sogod.plist`).

    sogod reads /etc/sogo/sogo.conf only as registered (lowest-priority) defaults; the user
    defaults of the `sogod` domain win. GNUstep finds them in GNUSTEP_USER_DEFAULTS_DIR of the
    GNUstep.conf that GNUSTEP_CONFIG_FILE names (not under $HOME), so a copy of the system's
    GNUstep.conf pointing into the folder configures the server without touching /etc.
    """
    db = f"postgresql://sogo:{db_pw}@127.0.0.1:{pg.port}/sogo"
    return f"""{{
    SOGoProfileURL = "{db}/sogo_user_profile";
    OCSFolderInfoURL = "{db}/sogo_folder_info";
    OCSSessionsFolderURL = "{db}/sogo_sessions_folder";
    OCSEMailAlarmsFolderURL = "{db}/sogo_alarms_folder";
    OCSStoreURL = "{db}/sogo_store";
    OCSAclURL = "{db}/sogo_acl";
    OCSCacheFolderURL = "{db}/sogo_cache_folder";
    SOGoLanguage = English;
    SOGoTimeZone = Europe/Berlin;
    SOGoMailDomain = example.invalid;
    SOGoAppointmentSendEMailNotifications = NO;
    SOGoMemcachedHost = "127.0.0.1:{memcached_port}";
    SOGoSuperUsernames = ({SERVICE_USER});
    SOGoUserSources = (
      {{
        type = sql;
        id = users;
        viewURL = "{db}/sogo_users";
        canAuthenticate = YES;
        isAddressBook = NO;
        userPasswordAlgorithm = md5;
      }}
    );
    WOPort = "127.0.0.1:{port}";
    WOWorkersCount = 6;
    SOGoDebugRequests = YES;
}}
"""


def start_sogo(folder: Path) -> RealServer:
    """SOGo 5.8 with memcached and a private PostgreSQL cluster; users in an SQL table.

    The service account is a SOGo superuser (`SOGoSuperUsernames`): it may create and write
    calendars in every counsellor's home, /SOGo/dav/<counsellor>/Calendar/.
    """
    sogod = _need("/usr/sbin/sogod", "sogo")
    memcached = _need("memcached", "memcached")

    def start(started: _Started) -> RealServer:
        pg = _start_postgres(folder, started)
        root = _daemon_dir(folder, "sogo", started)
        defaults_dir = root / "defaults"
        defaults_dir.mkdir(parents=True)
        gnustep_conf = root / "GNUstep.conf"
        gnustep_conf.write_text(_gnustep_conf(defaults_dir), encoding="utf-8")
        mc_port = free_port()
        mc = _spawn(
            "memcached",
            [memcached, "-l", "127.0.0.1", "-p", str(mc_port), "-U", "0", "-m", "32"],
            folder / "memcached.log",
            user="memcache",
            cwd=root,
        )
        started.procs.append(mc)
        db_pw, pw = _password(), _password()
        users = {SERVICE_USER: pw, **{c: _password() for c in COUNSELLORS}}
        rows = ",".join(
            f"('{u}', '{u}', '{hashlib.md5(p.encode()).hexdigest()}', '{u}', '{u}@example.invalid')"
            for u, p in users.items()
        )
        pg.psql(
            "postgres",
            f"CREATE ROLE sogo LOGIN PASSWORD '{db_pw}';\nCREATE DATABASE sogo OWNER sogo;\n",
        )
        pg.psql(
            "sogo",
            "CREATE TABLE sogo_users (c_uid varchar(255) PRIMARY KEY, c_name varchar(255), "
            "c_password varchar(255), c_cn varchar(255), mail varchar(255));\n"
            f"INSERT INTO sogo_users VALUES {rows};\nALTER TABLE sogo_users OWNER TO sogo;\n",
        )
        port = free_port()
        defaults = defaults_dir / "sogod.plist"
        defaults.write_text(_sogo_defaults(pg, db_pw, mc_port, port), encoding="utf-8")
        _own(root, "sogo")
        defaults.chmod(0o600)
        _wait_port(mc_port, mc, folder / "memcached.log")
        log = root / "sogo.log"
        cmd = [sogod, "-WONoDetach", "YES", "-WOPidFile", str(root / "sogo.pid"), "-WOLogFile", str(log)]
        env = {"GNUSTEP_CONFIG_FILE": str(gnustep_conf), "HOME": str(root)}
        proc = _spawn("sogo", cmd, folder / "sogod.out", user="sogo", env=env, cwd=root, grace_s=3)
        # (its workers ignore the watchdog's SIGTERM for longer than a test run should wait)
        started.procs.append(proc)
        server = _server("sogo", port, folder, proc, started, "/SOGo/dav/", pw)
        server.template = server.url + "{counsellor}/Calendar/" + CALENDAR + "/"
        _wait_dav(f"{server.url}{COUNSELLORS[0]}/Calendar/", SERVICE_USER, pw, proc, log)
        return server

    return _guarded(start)


def _gnustep_conf(defaults_dir: Path) -> str:
    """The system's GNUstep.conf with the user defaults in `defaults_dir`."""
    lines = Path(_need("/etc/GNUstep/GNUstep.conf", "gnustep-base-common")).read_text().splitlines()
    lines = [x for x in lines if not x.startswith("GNUSTEP_USER_DEFAULTS_DIR=")]
    return "\n".join([*lines, f"GNUSTEP_USER_DEFAULTS_DIR={defaults_dir}", ""])
