"""A hospital's ordinary night on its Windows machines: what rules must not mistake for an attack.

Each behaviour draws from its own random stream. Several are deliberate near misses of the
attack steps, because real nights are full of them: backup software rotating shadow copies
(``/oldest``), Windows Server Backup (``wbadmin start backup``), Defender opening lsass,
SCCM installing its client as a service and running encoded PowerShell, an on-call
administrator coming in through the VPN and RDP, an interface engine renaming HL7 messages, an
installer writing a README, a copier retrying an expired password.
"""

from __future__ import annotations

import base64
import random

from sentinelle.scenarios import fortigate, windows
from sentinelle.scenarios.topology import Host
from sentinelle.scenarios.windows import SECURITY, SYSMON, SYSTEM, Process
from sentinelle.scenarios.world import Account, World

DEFENDER = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MsMpEng.exe"
MPCMDRUN = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24010.12-0\\MpCmdRun.exe"
NSCLIENT = "C:\\Program Files\\Centreon NSClient++\\nscp.exe"
CMD = "C:\\Windows\\System32\\cmd.exe"
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
CCMEXEC = "C:\\Windows\\CCM\\CcmExec.exe"
EHR_CLIENT = "C:\\Program Files\\CHU\\DossierPatient\\DPIClient.exe"
PACS_VIEWER = "C:\\Program Files\\PacsView\\PacsViewer.exe"
LSASS = "C:\\Windows\\System32\\lsass.exe"
SERVICES = "C:\\Windows\\System32\\services.exe"
SVCHOST = "C:\\Windows\\System32\\svchost.exe"
EXPLORER = "C:\\Windows\\explorer.exe"
SYSTEM_USER = "NT AUTHORITY\\SYSTEM"
CCMSETUP = '"C:\\Windows\\ccmsetup\\ccmsetup.exe" /runservice /config:MobileClient.tcf'

DEPARTMENTS = (
    "Urgences",
    "Cardiologie",
    "Pharmacie",
    "Laboratoire",
    "Radiologie",
    "Direction",
    "Qualite",
    "Bloc",
    "Maternite",
    "RH",
)


def generate(w: World) -> None:
    """Every Windows background behaviour over the scenario window."""
    night_shift(w)
    server_housekeeping(w)
    file_server_activity(w)
    hl7_archive(w)
    backups(w)
    admin_on_call(w)
    software_deployment(w)
    expired_password(w)


def _user_session(
    w: World,
    rng: random.Random,
    host: Host,
    user: Account,
    ts: float,
    length: float,
    logon_type: int,
    *,
    ip: str = "127.0.0.1",
    source: str | None = None,
) -> tuple[str, Process]:
    """4624 (and 4672 for admins), the user's shell, and the matching 4634 when it ends."""
    # WorkstationName is the machine the logon comes from: the host itself when local.
    workstation = source or host.name
    lid = w.logon(ts, host, user, rng, logon_type=logon_type, ip=ip, workstation=workstation)
    qualified = user.qualified(w.topo.netbios)
    shell = windows.new_process(rng, EXPLORER, EXPLORER, qualified, lid)
    end = min(ts + length, w.end - 1)
    w.win(
        host,
        SECURITY,
        end,
        windows.logoff(
            end, host, user=qualified, user_sid=user.sid, target_logon_id=lid, logon_type=logon_type
        ),
    )
    return lid, shell


def network_logon(
    w: World,
    rng: random.Random,
    ts: float,
    host: Host,
    account: Account,
    source: Host,
    package: str = "Kerberos",
) -> str:
    """4624 type 3 on ``host``: ``account`` reaching it over the network from ``source``."""
    return w.logon(
        ts, host, account, rng, logon_type=3, ip=source.ip, workstation=source.name, package=package
    )


def system_spawn(
    w: World,
    rng: random.Random,
    ts: float,
    host: Host,
    parent: Process,
    image: str,
    command_line: str,
) -> Process:
    """A process a system service starts: as SYSTEM, in session 0, at System integrity."""
    return w.spawn(
        ts,
        host,
        parent,
        image,
        command_line,
        user=SYSTEM_USER,
        user_sid=windows.LOCAL_SYSTEM_SID,
        logon_id="0x3e7",
        rng=rng,
        integrity="System",
    )


def vpn_tunnel(
    w: World, ts: float, user: Account, remote_ip: str, tunnel_ip: str, tunnel_id: int, *, up: bool
) -> None:
    """The VPN gateway's line for a tunnel coming up or going down."""
    w.fw(
        w.topo.vpn,
        ts,
        fortigate.vpn_tunnel(
            w.topo.vpn,
            ts,
            user=user.sam,
            remote_ip=remote_ip,
            tunnel_ip=tunnel_ip,
            tunnel_id=tunnel_id,
            up=up,
        ),
    )


def _dc_for(w: World, host: Host) -> Host:
    dcs = w.topo.with_tag("dc")
    local = [d for d in dcs if d.site == host.site]
    return (local or dcs)[0]


def night_shift(w: World) -> None:
    """Nurses and doctors unlocking clinical workstations all night; a few office sessions."""
    rng = w.rng("night-shift")
    for host in w.topo.workstations:
        clinical = host.zone == "clinical"
        gap = 1800.0 if clinical else 4 * 3600.0
        for ts in w.times(rng, gap):
            user = rng.choice(w.users)
            if rng.random() < 0.07:  # a mistyped password first (local logon, not network)
                w.win(
                    host,
                    SECURITY,
                    ts - 6,
                    windows.logon_failure(
                        ts - 6,
                        host,
                        user=user.qualified(w.topo.netbios),
                        logon_type=2,
                        ip="127.0.0.1",
                        port="0",
                        workstation=host.name,
                    ),
                )
            lid, shell = _user_session(
                w, rng, host, user, ts, rng.uniform(120, 1500), rng.choice((2, 7, 11))
            )
            dc = _dc_for(w, host)
            network_logon(w, rng, ts - 1, dc, user, host)
            app = EHR_CLIENT if clinical or rng.random() < 0.3 else PACS_VIEWER
            w.spawn(
                ts + rng.uniform(3, 20),
                host,
                shell,
                app,
                f'"{app}"',
                user=user.qualified(w.topo.netbios),
                user_sid=user.sid,
                logon_id=lid,
                rng=rng,
            )


def server_housekeeping(w: World) -> None:
    """Monitoring agent checks, Defender scans and signature updates, on every server."""
    rng = w.rng("housekeeping")
    for host in w.topo.servers:
        agent = w.system_process(host, NSCLIENT)
        for ts in w.times(rng, 900.0):
            script = rng.choice(("check_services.bat", "check_disk.ps1", "check_eventlog.bat"))
            if script.endswith(".ps1"):
                image, cmdline = (
                    POWERSHELL,
                    (
                        f"powershell.exe -NoProfile -ExecutionPolicy Bypass -File "
                        f'"C:\\Program Files\\Centreon NSClient++\\scripts\\{script}"'
                    ),
                )
            else:
                image, cmdline = (
                    CMD,
                    (f'cmd.exe /c "C:\\Program Files\\Centreon NSClient++\\scripts\\{script}"'),
                )
            system_spawn(w, rng, ts, host, agent, image, cmdline)
        if host.sysmon:
            defender = w.system_process(host, DEFENDER)
            lsass = w.system_process(host, LSASS)
            for ts in w.times(rng, 2700.0):
                w.win(
                    host,
                    SYSMON,
                    ts,
                    windows.sysmon_process_access(
                        ts,
                        host,
                        defender,
                        lsass,
                        access="0x1410",
                        call_trace="C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e",
                    ),
                )
        svchost = w.system_process(host, SVCHOST)
        for ts in w.times(rng, 3 * 3600.0):
            system_spawn(
                w,
                rng,
                ts,
                host,
                svchost,
                MPCMDRUN,
                f'"{MPCMDRUN}" SignatureUpdate -ScheduleJob -RestrictPrivileges',
            )


def file_server_activity(w: World) -> None:
    """Documents saved on the shares at night (SMB writes show as the System process)."""
    rng = w.rng("file-activity")
    for host in w.topo.with_tag("file"):
        if not host.sysmon:
            continue
        system = w.system_process(host, "System")
        for ts in w.times(rng, 240.0):
            dept = rng.choice(DEPARTMENTS)
            name = rng.choice(
                ("planning-garde", "cr-reunion", "transmissions", "protocole", "commande", "releve")
            )
            ext = rng.choice(("docx", "xlsx", "pdf", "odt"))
            base = f"D:\\Partages\\{dept}\\{name}-{rng.randrange(1, 400):03d}"
            w.win(host, SYSMON, ts, windows.sysmon_file_create(ts, host, system, f"{base}.{ext}"))
            if ext in ("docx", "xlsx"):  # Office's lock file beside it
                lock = f"D:\\Partages\\{dept}\\~${name}-{rng.randrange(1, 400):03d}.{ext}"
                w.win(
                    host, SYSMON, ts - 30, windows.sysmon_file_create(ts - 30, host, system, lock)
                )


def hl7_archive(w: World) -> None:
    """The interface engine renames messages it could not deliver (``.hl7.error``)."""
    rng = w.rng("hl7")
    engine_image = "C:\\Program Files\\InterfaceEngine\\ieservice.exe"
    for host in w.topo.with_tag("hl7")[:1]:
        engine = w.system_process(host, engine_image)
        for n, ts in enumerate(w.times(rng, 1500.0)):
            kind = rng.choice(("ADT_A01", "ADT_A03", "ORU_R01", "ORM_O01"))
            path = f"E:\\HL7\\erreurs\\{kind}_{n:05d}.hl7.error"
            w.win(host, SYSMON, ts, windows.sysmon_file_create(ts, host, engine, path))


def backups(w: World) -> None:
    """Nightly Veeam jobs, shadow-copy rotation on file servers, Windows Server Backup on DCs."""
    rng = w.rng("backups")
    servers = w.topo.with_tag("backup")
    if not servers:
        return
    bkp = servers[0]
    job_start = w.start + 3600.0  # 23:00 local in the scenarios' windows
    manager = w.system_process(
        bkp, "C:\\Program Files\\Veeam\\Backup and Replication\\Backup\\Veeam.Backup.Manager.exe"
    )
    svc = w.service_accounts["svc-backup"]
    agent = w.spawn(
        job_start,
        bkp,
        manager,
        "C:\\Program Files (x86)\\Veeam\\Backup Transport\\x86\\VeeamAgent.exe",
        '"C:\\Program Files (x86)\\Veeam\\Backup Transport\\x86\\VeeamAgent.exe" -l',
        user=svc.qualified(w.topo.netbios),
        user_sid=svc.sid,
        logon_id="0x5a1f3",
        rng=rng,
        integrity="High",
    )
    ts = job_start
    for host in w.topo.servers:
        ts += rng.uniform(60, 240)
        network_logon(w, rng, ts, host, svc, bkp)
        stamp = "D" + w.local(ts).strftime("%Y-%m-%dT%H%M%S")
        for suffix in ("vib", "vbm"):
            vm = f"{host.name}.vm-{rng.randrange(1000, 9999)}"
            path = f"E:\\Backups\\Job-{host.site.upper()}\\{vm}{stamp}.{suffix}"
            w.win(bkp, SYSMON, ts + 5, windows.sysmon_file_create(ts + 5, bkp, agent, path))
    # Group policy refresh on the backup servers: Defender excludes the repository, and the
    # policy writes its "DisableAntiSpyware" value back to 0 (near misses of T1562.001).
    for host in servers:
        gpo = w.system_process(host, SVCHOST)
        t = w.start + rng.uniform(0.5, 1.5) * 3600
        policy = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender"
        for key, value in (
            (f"{policy}\\Exclusions\\Paths\\E:\\Backups", "DWORD (0x00000000)"),
            (f"{policy}\\DisableAntiSpyware", "DWORD (0x00000000)"),
        ):
            if host.sysmon:
                w.win(host, SYSMON, t, windows.sysmon_registry_set(t, host, gpo, key, value))
    # Shadow-copy rotation: the oldest copy goes, on one volume (a near miss of T1490).
    # Then Windows Server Backup on the domain controllers.
    for tag, hours, spread, image, cmdline in (
        ("file", 2.5, 300, "vssadmin.exe", "vssadmin.exe delete shadows /for=D: /oldest /quiet"),
        (
            "dc",
            3,
            600,
            "wbadmin.exe",
            f"wbadmin.exe start backup -backupTarget:\\\\{bkp.name.lower()}\\wsb$"
            " -allCritical -quiet",
        ),
    ):
        for host in w.topo.with_tag(tag):
            t = w.start + hours * 3600 + rng.uniform(0, spread)
            task = w.system_process(host, "C:\\Windows\\System32\\taskeng.exe")
            system_spawn(w, rng, t, host, task, f"C:\\Windows\\System32\\{image}", cmdline)


def admin_on_call(w: World) -> None:
    """The on-call administrator: VPN, RDP to a bastion, then to one server, a script, checks."""
    rng = w.rng("on-call")
    admin = w.admins[0]
    person = next(u for u in w.users if admin.sam.startswith("adm-" + u.sam.replace(".", "")[:12]))
    bastions = w.topo.with_tag("bastion") or w.topo.servers[:1]
    targets = w.topo.with_tag("hl7") or w.topo.servers
    start = w.start + rng.uniform(1.2, 2.2) * 3600
    remote = "198.51.100.77"  # the administrator's home connection
    tunnel_ip = w.vpn_ip(7)
    if not w.conditions.vpn_up(start):
        return
    vpn_tunnel(w, start, person, remote, tunnel_ip, 7, up=True)
    bastion = bastions[0]
    _lid, _shell = _user_session(
        w, rng, bastion, person, start + 40, 2400, 10, ip=tunnel_ip, source="PC-ASTREINTE-07"
    )
    server = targets[0]
    t = start + 180
    lid, shell = _user_session(
        w, rng, server, admin, t, 1800, 10, ip=bastion.ip, source=bastion.name
    )
    qualified = admin.qualified(w.topo.netbios)
    steps = (
        (
            POWERSHELL,
            "powershell.exe -NoProfile -ExecutionPolicy Bypass"
            " -File C:\\Scripts\\Restart-InterfaceEngine.ps1",
        ),
        ("C:\\Windows\\System32\\whoami.exe", "whoami.exe"),
        ("C:\\Windows\\System32\\quser.exe", "quser.exe"),
        ("C:\\Windows\\System32\\net.exe", 'net.exe group "Admins du domaine" /domain'),
    )
    for image, cmdline in steps:
        t += rng.uniform(40, 300)
        w.spawn(
            t,
            server,
            shell,
            image,
            cmdline,
            user=qualified,
            user_sid=admin.sid,
            logon_id=lid,
            rng=rng,
            integrity="High",
        )
    end = start + 2500
    vpn_tunnel(w, end, person, remote, tunnel_ip, 7, up=False)


def software_deployment(w: World) -> None:
    """SCCM's maintenance window: client push (a service), compliance scripts, an install."""
    rng = w.rng("deployment")
    deployers = w.topo.with_tag("deploy")
    if not deployers:
        return
    sccm = deployers[0]
    svc = w.service_accounts["svc-deploy"]
    window = w.start + 4 * 3600  # 02:00 local
    sample = rng.sample(
        w.topo.workstations, min(len(w.topo.workstations), max(4, round(12 * w.scale)))
    )
    script = base64.b64encode(
        "$c = Get-CimInstance Win32_OperatingSystem; if ($c.Version -ge '10.0') { 'OK' }".encode(
            "utf-16-le"
        )
    ).decode()
    for i, host in enumerate(sample):
        ts = window + i * rng.uniform(20, 90)
        if i % 3 == 0:  # client push: a network logon, then the ccmsetup service
            network_logon(w, rng, ts, host, svc, sccm)
            w.win(
                host,
                SYSTEM,
                ts + 4,
                windows.service_installed_7045(
                    ts + 4,
                    host,
                    name="ccmsetup",
                    path=CCMSETUP,
                    user_sid=windows.LOCAL_SYSTEM_SID,
                ),
            )
        ccm = w.system_process(host, CCMEXEC)
        system_spawn(
            w,
            rng,
            ts + 60,
            host,
            ccm,
            POWERSHELL,
            "powershell.exe -NoLogo -NonInteractive -ExecutionPolicy Bypass"
            f" -EncodedCommand {script}",
        )
        if i % 4 == 1:
            msi = system_spawn(
                w,
                rng,
                ts + 120,
                host,
                ccm,
                "C:\\Windows\\System32\\msiexec.exe",
                'msiexec.exe /i "C:\\Windows\\ccmcache\\3f\\7z2301-x64.msi" /qn',
            )
            if host.sysmon:
                for name in ("7z.exe", "7-zip.chm", "readme.txt", "License.txt"):
                    t = ts + 130
                    w.win(
                        host,
                        SYSMON,
                        t,
                        windows.sysmon_file_create(
                            t, host, msi, f"C:\\Program Files\\7-Zip\\{name}"
                        ),
                    )


def expired_password(w: World) -> None:
    """A copier's scan-to-folder account kept an old password: it fails every few minutes."""
    rng = w.rng("copier")
    files = w.topo.with_tag("file")
    if not files:
        return
    target = files[0]
    copier_ip = "10.10.32.250"  # on the office segment of the main site, like its workstations
    svc = w.service_accounts["svc-scan"]
    for ts in w.times(rng, 240.0):
        w.win(
            target,
            SECURITY,
            ts,
            windows.logon_failure(
                ts,
                target,
                user=svc.qualified(w.topo.netbios),
                logon_type=3,
                ip=copier_ip,
                port=str(rng.randrange(1024, 65535)),
                workstation="MFP-CEN-2F",
                sub_status=windows.STATUS_BAD_PASSWORD,
            ),
        )
