/* main.c - injectord: read the configuration, check it or run the daemon with it. */
#include "collector/check.h"
#include "collector/config.h"
#include "collector/daemon.h"
#include "collector/log.h"
#include "sink/secret.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A private copy of the arguments, for reloads to read again, taken before the process's
 * own are scrubbed (a URL's password starred out, so ps(1) does not show it). */
static char **keep_args(int argc, char **argv)
{
    char **copy = calloc((size_t)argc + 1, sizeof(*copy));
    for (int i = 0; copy != NULL && i < argc; i++)
        if ((copy[i] = strdup(argv[i])) == NULL)
            return NULL; /* start-up; the process exits */
    for (int i = 1; i < argc; i++)
        secret_scrub_url(argv[i]);
    return copy;
}

static void report_problem(const char *problem, void *data)
{
    (void)data;
    fprintf(stderr, "injectord: %s\n", problem);
}

static void free_args(int argc, char **args)
{
    for (int i = 0; args != NULL && i < argc; i++) {
        memset(args[i], 0, strlen(args[i]));
        free(args[i]);
    }
    free(args);
}

int main(int argc, char **argv)
{
    static struct config cfg; /* tens of KB */
    enum config_mode mode;
    char err[512];

    int rc = config_load(&cfg, argc, argv, &mode, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "injectord: %s\n", err);
        return mode != CONFIG_RUN ? 1 : 2;
    }
    if (mode != CONFIG_RUN) {
        int problems = check_config(&cfg, mode == CONFIG_CHECK_BIND, report_problem, NULL);
        config_print(&cfg, stdout);
        return problems > 0 ? 1 : 0;
    }
    log_set_level((enum log_level)cfg.log_level);
    char **args = keep_args(argc, argv);
    if (args == NULL) {
        fprintf(stderr, "injectord: out of memory\n");
        return 1;
    }
    /* A reader of our stdout going away must be an error on write, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    rc = daemon_run(&cfg, argc, args);
    free_args(argc, args);
    return rc;
}
