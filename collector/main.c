/* main.c - injectord: read the configuration, check it or run the daemon with it. */
#include "collector/config.h"
#include "collector/daemon.h"
#include "collector/log.h"
#include "sink/secret.h"

#include <signal.h>
#include <stdio.h>

/* The URL may carry a password: blank it in our argv so ps(1) does not show it. */
static void scrub_password(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        secret_scrub_url(argv[i]);
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    bool check;

    int rc = config_load(&cfg, argc, argv, &check, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "injectord: %s\n", err);
        return check ? 1 : 2;
    }
    if (check) {
        config_print(&cfg, stdout);
        return 0;
    }
    log_set_level(cfg.log_level);
    scrub_password(argc, argv);
    /* A reader of our stdout going away must be an error on write, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    return daemon_run(&cfg, argc, argv);
}
