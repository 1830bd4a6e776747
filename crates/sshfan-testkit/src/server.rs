//! The russh server side of a fleet host: authentication, session channels, exec.
//!
//! One [`FleetSession`] serves one connection. It authenticates against the fleet's user,
//! authorized keys and password (publickey, password and keyboard-interactive), applies
//! the host's [`Fault`], and hands `exec` requests to the interpreter in [`crate::script`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};

use crate::kill::KillSwitch;
use crate::script::{Fault, Job, run_exec};

/// Who may log in to the fleet.
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
    pub authorized: Vec<PublicKey>,
    /// CAs whose user certificates are accepted (for the fleet user as principal).
    pub user_cas: Vec<PublicKey>,
}

/// One fleet host as its sessions see it.
pub(crate) struct VirtualHost {
    pub name: String,
    pub fault: Option<Fault>,
    /// Connections that reached the SSH layer.
    pub connections: AtomicUsize,
    /// Connections open now.
    pub open: Arc<AtomicUsize>,
    /// Commands started.
    pub execs: AtomicUsize,
    /// Session channels opened.
    pub opened_channels: AtomicUsize,
    /// Session channels whose close this host has seen from both sides.
    pub closed_channels: AtomicUsize,
    /// `direct-tcpip` channels opened through this host (as a jump host).
    pub forwards: AtomicUsize,
    /// Commands and shells running now.
    pub running: Arc<AtomicUsize>,
    /// The host's own files (SFTP root, and the working directory of its real shell).
    pub root: std::path::PathBuf,
}

/// Server state for one connection to one virtual host.
pub(crate) struct FleetSession {
    pub host: Arc<VirtualHost>,
    pub credentials: Arc<Credentials>,
    pub real_shell: Option<Arc<Vec<(String, String)>>>,
    pub kill: Arc<KillSwitch>,
    pub channels: HashMap<ChannelId, Channel<Msg>>,
    /// Variables sent per channel before its command.
    pub env: HashMap<ChannelId, Vec<(String, String)>>,
    /// Where signals for each running channel go.
    pub signals: HashMap<ChannelId, tokio::sync::watch::Sender<Option<russh::Sig>>>,
    /// Channel opens held unanswered under [`Fault::StallAfterAuth`].
    pub stalled: Vec<ChannelOpenHandle>,
    /// Channels opened and not yet asked for anything, under
    /// [`Fault::CloseIdleChannels`].
    pub unused: Arc<std::sync::Mutex<std::collections::HashSet<ChannelId>>>,
}

impl FleetSession {
    fn rejects_auth(&self, user: &str) -> bool {
        self.host.fault == Some(Fault::RejectAuth) || user != self.credentials.user
    }
}

fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(
            &[
                MethodKind::PublicKey,
                MethodKind::Password,
                MethodKind::KeyboardInteractive,
            ][..],
        )),
        partial_success: false,
    }
}

impl russh::server::Handler for FleetSession {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        Ok(match self.host.fault {
            Some(Fault::HugeBanner(bytes)) => {
                Some("\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J".repeat(bytes / 20 + 1))
            }
            _ => None,
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let known = self
            .credentials
            .authorized
            .iter()
            .any(|k| k.key_data() == key.public_key.key_data());
        Ok(if known && !self.rejects_auth(user) {
            Auth::Accept
        } else {
            reject()
        })
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &russh::keys::Certificate,
    ) -> Result<Auth, Self::Error> {
        use russh::keys::ssh_key::certificate::CertType;
        let now = crate::keys::unix_now();
        let trusted = self.credentials.user_cas.iter().any(|ca| {
            ca.key_data() == certificate.signature_key()
                && certificate
                    .validate_at(now, [&ca.fingerprint(russh::keys::HashAlg::Sha256)])
                    .is_ok()
        });
        let for_user = certificate.valid_principals().iter().any(|p| p == user);
        Ok(
            if trusted
                && for_user
                && certificate.cert_type() == CertType::User
                && !self.rejects_auth(user)
            {
                Auth::Accept
            } else {
                reject()
            },
        )
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(
            if password == self.credentials.password && !self.rejects_auth(user) {
                Auth::Accept
            } else {
                reject()
            },
        )
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "fleet".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            });
        };
        let answer = response.next();
        let accepted = answer.as_deref() == Some(self.credentials.password.as_bytes());
        Ok(if accepted && !self.rejects_auth(user) {
            Auth::Accept
        } else {
            reject()
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.host.fault == Some(Fault::StallAfterAuth) {
            self.stalled.push(reply);
            return Ok(());
        }
        reply.accept().await;
        self.host.opened_channels.fetch_add(1, Ordering::Relaxed);
        if let Some(Fault::CloseIdleChannels { after }) = self.host.fault {
            // Closed then, unless a request has taken it (`take_channel`) by then.
            let handle = session.handle();
            let id = channel.id();
            let unused = self.unused.clone();
            unused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let still = unused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                if still {
                    let _ = handle.close(id).await;
                }
            });
        }
        self.channels.insert(channel.id(), channel);
        Ok(())
    }

    /// Jump-host support: connect to the requested loopback address over TCP and relay.
    /// Only loopback destinations are served: a test fleet never reaches further.
    #[allow(clippy::too_many_arguments)]
    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let loopback = host_to_connect
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
            || host_to_connect == "localhost";
        let Ok(port) = u16::try_from(port_to_connect) else {
            return Ok(());
        };
        if !loopback {
            return Ok(()); // dropping the reply refuses the channel
        }
        let target = match tokio::net::TcpStream::connect((host_to_connect, port)).await {
            Ok(stream) => stream,
            Err(_) => {
                reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                return Ok(());
            }
        };
        self.host.forwards.fetch_add(1, Ordering::Relaxed);
        reply.accept().await;
        tokio::spawn(async move {
            let mut target = target;
            let mut stream = channel.into_stream();
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut target).await;
        });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start_job(
            channel,
            Some(String::from_utf8_lossy(data).into_owned()),
            session,
        )
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let refuses = self.host.fault == Some(Fault::NoSftp);
        let open = match (name, self.take_channel(channel)) {
            ("sftp", Some(open)) if !refuses => open,
            _ => {
                session.channel_failure(channel)?;
                return Ok(());
            }
        };
        session.channel_success(channel)?;
        let trick = match &self.host.fault {
            Some(Fault::HostileSftp(trick)) => Some(trick.clone()),
            _ => None,
        };
        let _ = std::fs::create_dir_all(&self.host.root);
        let handler = crate::sftp::SftpSession::new(self.host.root.clone(), trick);
        tokio::spawn(russh_sftp::server::run(open.into_stream(), handler));
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start_job(channel, None, session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        variable_value: &str,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.env
            .entry(channel)
            .or_default()
            .push((variable_name.to_owned(), variable_value.to_owned()));
        Ok(())
    }

    async fn signal(
        &mut self,
        channel: ChannelId,
        signal: russh::Sig,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(signals) = self.signals.get(&channel) {
            signals.send_replace(Some(signal));
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.host.closed_channels.fetch_add(1, Ordering::Relaxed);
        // The client hung up: like sshd closing a terminal, end what runs there.
        if let Some(signals) = self.signals.remove(&channel) {
            signals.send_replace(Some(russh::Sig::HUP));
        }
        Ok(())
    }
}

impl FleetSession {
    /// The channel `id`, taken for a request: no longer unused.
    fn take_channel(&mut self, id: ChannelId) -> Option<Channel<Msg>> {
        self.unused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        self.channels.remove(&id)
    }

    /// Starts a command (or an interactive shell) on `channel`.
    fn start_job(
        &mut self,
        channel: ChannelId,
        command: Option<String>,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let Some(open) = self.take_channel(channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        self.host.execs.fetch_add(1, Ordering::Relaxed);
        let (signals, receiver) = tokio::sync::watch::channel(None);
        self.signals.insert(channel, signals);
        let mut env = self.env.remove(&channel).unwrap_or_default();
        env.push((
            "SSHFAN_TEST_CLIENT_ID".to_owned(),
            String::from_utf8_lossy(session.remote_sshid()).into_owned(),
        ));
        let job = Job {
            command,
            env,
            identity: crate::script::Identity::new(&self.host.name, self.host.fault.as_ref()),
            fault: self.host.fault.clone(),
            kill: self.kill.clone(),
            real_shell: self.real_shell.clone(),
            signals: receiver,
            running: self.host.running.clone(),
            root: self.host.root.clone(),
        };
        tokio::spawn(run_exec(open, session.handle(), job));
        Ok(())
    }
}
