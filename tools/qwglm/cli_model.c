/* The -m argument of every command, and the Hub progress display on stderr. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void human_bytes(char *dst, size_t cap, double n)
{
    if (n >= 1e9)
        snprintf(dst, cap, "%.2f GB", n / 1e9);
    else if (n >= 1e6)
        snprintf(dst, cap, "%.1f MB", n / 1e6);
    else if (n >= 1e3)
        snprintf(dst, cap, "%.1f kB", n / 1e3);
    else
        snprintf(dst, cap, "%.0f B", n);
}

static void human_time(char *dst, size_t cap, double s)
{
    if (s < 0 || s > 99 * 3600)
        snprintf(dst, cap, "--");
    else if (s >= 3600)
        snprintf(dst, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(dst, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(dst, cap, "%ds", (int)s);
}

#ifdef QWGLM_HAVE_HUB

static void clear_bar(struct cli_progress *p)
{
    if (p->bar_drawn) fputs("\r\033[K", stderr);
    p->bar_drawn = false;
}

static void draw_bar(struct cli_progress *p, const qwglm_hub_event *ev)
{
    char done[32], total[32], speed[32], eta[32], bar[32];
    double frac = ev->total ? (double)ev->done / (double)ev->total : 1.0;
    int width = 24, fill = (int)(frac * width + 0.5);
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    human_bytes(done, sizeof done, (double)ev->done);
    human_bytes(total, sizeof total, (double)ev->total);
    human_bytes(speed, sizeof speed, ev->speed);
    human_time(eta, sizeof eta, ev->eta_s);
    fprintf(stderr, "\r\033[K[%s] %3d%%  %s / %s  %s/s  ETA %s  (%d/%d files)", bar, (int)(frac * 100), done,
            total, speed, eta, ev->files_done, ev->files_total);
    fflush(stderr);
    p->bar_drawn = true;
}

int cli_hub_progress(const qwglm_hub_event *ev, void *user)
{
    struct cli_progress *p = user;
    if (p->mode == CLI_PROGRESS_NONE) return 0;
    if (p->mode == CLI_PROGRESS_JSON) {
        char line[2048];
        if (qwglm_hub_event_json(ev, line, sizeof line) < sizeof line) fprintf(stderr, "%s\n", line);
        return 0;
    }
    bool tty = p->mode == CLI_PROGRESS_BAR;
    char size[32];
    switch (ev->kind) {
    case QWGLM_HUB_EV_RESOLVED: {
        char total[32], cached[32];
        human_bytes(total, sizeof total, (double)ev->total);
        human_bytes(cached, sizeof cached, (double)ev->done);
        fprintf(stderr, "qwglm: %s@%s is commit %.12s: %d files, %s (%s already here)\n", ev->repo,
                ev->revision, ev->commit, ev->files_total, total, cached);
        break;
    }
    case QWGLM_HUB_EV_FILE_DONE:
        if (tty) clear_bar(p);
        human_bytes(size, sizeof size, (double)ev->file_total);
        fprintf(stderr, "  %-48s %10s\n", ev->file, size);
        if (tty) draw_bar(p, ev);
        break;
    case QWGLM_HUB_EV_PROGRESS:
        if (tty) draw_bar(p, ev);
        break;
    case QWGLM_HUB_EV_RETRY:
    case QWGLM_HUB_EV_WAITING:
        if (tty) clear_bar(p);
        fprintf(stderr, "qwglm: %s%s%s\n", ev->file ? ev->file : "", ev->file ? ": " : "", ev->message);
        break;
    case QWGLM_HUB_EV_DONE:
    case QWGLM_HUB_EV_ERROR:
        if (tty) clear_bar(p);
        break;
    default:
        break;
    }
    return 0;
}

void cli_progress_init(struct cli_progress *p, enum cli_progress_mode mode)
{
    memset(p, 0, sizeof *p);
    p->mode = mode == CLI_PROGRESS_AUTO ? (isatty(2) ? CLI_PROGRESS_BAR : CLI_PROGRESS_LINES) : mode;
}

#endif

int cli_resolve_model(const char *cmd, const char *arg, char *dir, size_t cap)
{
    struct stat st;
    if (!arg || !*arg) return cli_usage_error(cmd, "no model given (-m DIR or -m ORG/NAME[@REVISION])");
    if (strlen(arg) >= cap) return cli_error(cmd, "%s: path too long", arg);
    /* what exists, or cannot be a Hub model, goes to the loader as it is: it says what is missing */
    bool hub_shaped = strchr(arg, '/') && strchr(arg, '/') == strrchr(arg, '/') && arg[0] != '/' &&
                      arg[0] != '.' && arg[0] != '~';
    if (stat(arg, &st) == 0 || !hub_shaped) {
        strcpy(dir, arg);
        return 0;
    }
#ifdef QWGLM_HAVE_HUB
    if (!qwglm_hub_is_ref(arg)) {
        strcpy(dir, arg);
        return 0;
    }
    struct cli_progress prog;
    cli_progress_init(&prog, CLI_PROGRESS_AUTO);
    qwglm_hub_params hp = qwglm_hub_default_params();
    hp.progress = cli_hub_progress;
    hp.progress_user = &prog;
    qwglm_hub_result res;
    char err[QWGLM_ERR_SIZE];
    if (qwglm_hub_resolve(arg, &hp, &res, err)) {
        if (stat(arg, &st) != 0 && strchr(arg, '@') == NULL)
            return cli_error(cmd, "%s (and there is no folder %s)", err, arg);
        return cli_error(cmd, "%s", err);
    }
    if (strlen(res.path) >= cap) return cli_error(cmd, "%s: path too long", res.path);
    strcpy(dir, res.path);
    return 0;
#else
    return cli_error(cmd,
                     "%s: no such folder (and this qwglm was built without libcurl, so it cannot download "
                     "models from the Hub)",
                     arg);
#endif
}

int cli_resolve_voice(const char *cmd, const char *arg, char *path, size_t cap)
{
    int rc = cli_resolve_model(cmd, arg, path, cap);
    struct stat st;
    if (rc || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return rc;
    /* a folder (a pulled voice repository): its one .onnx file */
    DIR *d = opendir(path);
    if (!d) return cli_error(cmd, "%s: cannot read the folder", path);
    char found[256] = "";
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t k = strlen(ent->d_name);
        if (k > 5 && k < sizeof found && strcmp(ent->d_name + k - 5, ".onnx") == 0 && n++ == 0)
            strcpy(found, ent->d_name);
    }
    closedir(d);
    if (n != 1)
        return cli_error(cmd, "%s: %s; name the voice file (-m FOLDER/VOICE.onnx)", path,
                         n ? "holds several .onnx voices" : "holds no .onnx voice");
    size_t used = strlen(path);
    if (used + 1 + strlen(found) >= cap) return cli_error(cmd, "%s: path too long", path);
    path[used] = '/';
    strcpy(path + used + 1, found);
    return 0;
}
