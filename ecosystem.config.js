// pm2 process file: `pm2 start ecosystem.config.js --env production`.
//
// Fork mode on purpose: log-server forks its own workers with node:cluster (--multithreaded); in pm2's cluster
// mode it would itself be a cluster worker, and it refuses to start there.
//
// Each LOG_SERVER_* value below can be overridden from the shell that runs pm2, e.g.
// `LOG_SERVER_PORT=9021 pm2 start ecosystem.config.js`; any other log-server option can be added the same way
// (LOG_SERVER_WORKERS, LOG_SERVER_ALLOW, LOG_SERVER_METRICS_PORT, ...; see `log-server --help`).
const fromShell = (name, fallback) => process.env[name] ?? fallback;

module.exports = {
  apps: [
    {
      name: 'log-server',
      script: 'dist/cli.js',
      cwd: __dirname,
      args: '--multithreaded',
      exec_mode: 'fork',
      instances: 1,
      // The server sends 'ready' once it listens (both modes); pm2 shows "online" only then, and a reload starts
      // nothing else until it is so. A start slower than listen_timeout counts as failed.
      wait_ready: true,
      listen_timeout: 15000,
      // pm2 stop/reload sends SIGINT to every process of the tree at once; the workers ask the primary to stop,
      // which drains open connections for up to LOG_SERVER_DRAIN_TIMEOUT (10 s by default), writes and fsyncs.
      // pm2 SIGKILLs whatever is left after kill_timeout: it must be longer than the drain (plus about 2 s for
      // the listener to close and the last write).
      kill_timeout: 15000,
      // A crash loop (e.g. the target's disk is gone) backs off: 100 ms doubling up to 15 s between restarts,
      // reset once the server stayed up 30 s.
      exp_backoff_restart_delay: 100,
      // Lines wait in memory while the disk is slow (--max-buffer, 16 MiB by default); past this something is
      // wrong: pm2 restarts it (gracefully, with the same SIGINT and kill_timeout).
      max_memory_restart: '1G',
      // The server's own lines (start, stop, refusals, faults) go to stderr: pm2 keeps them in
      // $PM2_HOME/logs/log-server-error.log (stdout stays empty), one file however many processes, with the time
      // in front of each line. `pm2 install pm2-logrotate` rotates them.
      merge_logs: true,
      time: true,
      env: {
        LOG_SERVER_HOST: fromShell('LOG_SERVER_HOST', '127.0.0.1'),
        LOG_SERVER_PORT: fromShell('LOG_SERVER_PORT', '9020'),
        LOG_SERVER_TARGET: fromShell('LOG_SERVER_TARGET', 'logs.txt'),
      },
      env_production: {
        NODE_ENV: 'production',
        LOG_SERVER_HOST: fromShell('LOG_SERVER_HOST', '127.0.0.1'),
        LOG_SERVER_PORT: fromShell('LOG_SERVER_PORT', '9020'),
        LOG_SERVER_TARGET: fromShell('LOG_SERVER_TARGET', '/var/log/log-server/logs.txt'),
      },
    },
  ],
};
