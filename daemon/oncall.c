/* oncall: receivers' documents for incidents; see oncall.h. */
#include "oncall.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define PD_SUMMARY_MAX 1024     /* PagerDuty truncates summary at 1024 chars */

const char *oncall_status(enum incident_action act)
{
    switch (act) {
    case INCIDENT_ESCALATE:
        return "escalated";
    case INCIDENT_RESOLVE:
        return "resolved";
    case INCIDENT_OPEN:
    case INCIDENT_REOPEN:
        break;
    }
    return "firing";
}

void oncall_text(char *out, size_t len, const char *instance, const struct incident *inc,
                 enum incident_action act)
{
    static const char *const what[] = {"Surge", "Surge escalated", "Surge again", "Resolved"};

    if (inc->kind == INCIDENT_VIRAL)
        snprintf(out, len, "[%s] %s: post %s shared %llu times in %us%s%s", instance,
                 act == INCIDENT_RESOLVE ? "Resolved viral post" : "Viral post", inc->name,
                 (unsigned long long)inc->peak, inc->window_s, inc->nsamples ? " by @" : "",
                 inc->nsamples ? inc->samples[0].author : "");
    else
        snprintf(out, len, "[%s] %s: %s %s, %llu posts in %us (baseline %llu, peak %llu)", instance, what[act],
                 incident_kind_names[inc->kind], inc->name, (unsigned long long)inc->count, inc->window_s,
                 (unsigned long long)inc->baseline, (unsigned long long)inc->peak);
}

void oncall_put_incident(struct json_writer *w, const struct incident *inc, enum incident_action act)
{
    jw_map_open(w);
    jw_put_str(w, "key", inc->key);
    jw_put_str(w, "kind", incident_kind_names[inc->kind]);
    jw_put_str(w, "name", inc->name);
    jw_put_str(w, "queue", inc->queue);
    jw_put_str(w, "status", oncall_status(act));
    jw_put_time(w, "started", inc->started_ms);
    jw_put_time(w, "resolved", inc->resolved ? inc->resolved_ms : 0);
    jw_put_int(w, "window_seconds", inc->window_s);
    jw_put_int(w, "count", (long long)inc->count);
    jw_put_int(w, "baseline", (long long)inc->baseline);
    jw_put_int(w, "peak", (long long)inc->peak);
    jw_key(w, "samples");
    jw_array_open(w);
    for (int i = 0; i < inc->nsamples; i++) {
        const struct incident_sample *s = &inc->samples[i];
        jw_map_open(w);
        jw_put_str(w, "id", s->id);
        jw_put_str(w, "url", s->url[0] ? s->url : NULL);
        jw_put_str(w, "author", s->author);
        jw_put_str(w, "text", s->text);
        jw_map_close(w);
    }
    jw_array_close(w);
    jw_map_close(w);
}

/* "@author: text" per sample, one a line, for an annotation. */
static void samples_text(char *out, size_t len, const struct incident *inc)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < inc->nsamples && used < len; i++) {
        int n = snprintf(out + used, len - used, "%s@%s: %s", i ? "\n" : "", inc->samples[i].author,
                         inc->samples[i].text);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static void am_open(struct json_writer *w, const char *alertname, const char *instance, const char *severity)
{
    jw_reset(w);
    jw_array_open(w);
    jw_map_open(w);
    jw_key(w, "labels");
    jw_map_open(w);
    jw_put_str(w, "alertname", alertname);
    jw_put_str(w, "instance", instance);
    jw_put_str(w, "severity", severity);
}

int oncall_alertmanager(struct json_writer *w, const char *instance, const struct incident *inc,
                        enum incident_action act, uint64_t ends_ms, const char **out, size_t *len)
{
    char text[1024], desc[512], samples[INCIDENT_SAMPLES * (INCIDENT_TEXT_MAX + 96)];

    am_open(w, inc->kind == INCIDENT_VIRAL ? "MentiondViralPost" : "MentiondSurge", instance, "critical");
    jw_put_str(w, "kind", incident_kind_names[inc->kind]);
    jw_put_str(w, "name", inc->name);
    if (inc->queue[0])
        jw_put_str(w, "queue", inc->queue);
    jw_put_str(w, "incident", inc->key);
    jw_map_close(w);
    oncall_text(text, sizeof text, instance, inc, act);
    snprintf(desc, sizeof desc, "%llu posts in the last %us against a baseline of %llu; peak %llu; status %s",
             (unsigned long long)inc->count, inc->window_s, (unsigned long long)inc->baseline,
             (unsigned long long)inc->peak, oncall_status(act));
    samples_text(samples, sizeof samples, inc);
    jw_key(w, "annotations");
    jw_map_open(w);
    jw_put_str(w, "summary", text);
    jw_put_str(w, "description", desc);
    jw_put_str(w, "samples", samples);
    jw_map_close(w);
    jw_put_time(w, "startsAt", inc->started_ms);
    jw_put_time(w, "endsAt", ends_ms);
    jw_map_close(w);
    jw_array_close(w);
    return jw_finish(w, out, len);
}

/* PagerDuty's summary: at most 1024 bytes, cut on a character. */
static void put_summary(struct json_writer *w, const char *text)
{
    jw_key(w, "summary");
    jw_strn(w, text, utf8_cut(text, strlen(text), PD_SUMMARY_MAX));
}

int oncall_pagerduty(struct json_writer *w, const char *routing_key, const char *instance,
                     const struct incident *inc, enum incident_action act, const char **out, size_t *len)
{
    char text[1024];

    jw_reset(w);
    jw_map_open(w);
    jw_put_str(w, "routing_key", routing_key);
    jw_put_str(w, "event_action", act == INCIDENT_RESOLVE ? "resolve" : "trigger");
    jw_put_str(w, "dedup_key", inc->key);
    if (act != INCIDENT_RESOLVE) {
        oncall_text(text, sizeof text, instance, inc, act);
        jw_key(w, "payload");
        jw_map_open(w);
        put_summary(w, text);
        jw_put_str(w, "source", instance);
        jw_put_str(w, "severity", "critical");
        jw_put_time(w, "timestamp", inc->updated_ms);
        jw_put_str(w, "component", inc->name);
        jw_put_str(w, "group", inc->queue[0] ? inc->queue : incident_kind_names[inc->kind]);
        jw_put_str(w, "class", inc->kind == INCIDENT_VIRAL ? "viral" : "surge");
        jw_key(w, "custom_details");
        oncall_put_incident(w, inc, act);
        jw_map_close(w);
        jw_put_str(w, "client", "mentiond");
    }
    jw_map_close(w);
    return jw_finish(w, out, len);
}

int oncall_webhook(struct json_writer *w, const char *instance, const struct incident *inc,
                   enum incident_action act, const char **out, size_t *len)
{
    char text[1024];

    oncall_text(text, sizeof text, instance, inc, act);
    jw_reset(w);
    jw_map_open(w);
    jw_put_str(w, "text", text);
    jw_put_str(w, "instance", instance);
    jw_put_str(w, "action", incident_action_names[act]);
    jw_key(w, "incident");
    oncall_put_incident(w, inc, act);
    jw_map_close(w);
    return jw_finish(w, out, len);
}

void oncall_limit_text(char *out, size_t len, const char *instance, uint32_t limit, uint64_t suppressed,
                       int hour_over)
{
    if (hour_over)
        snprintf(out, len, "[%s] Page limit: %llu pages were suppressed in the last hour (limit %u an hour); "
                 "the incidents are on the Redis queue", instance, (unsigned long long)suppressed, limit);
    else
        snprintf(out, len, "[%s] Page limit of %u an hour reached: further pages this hour are suppressed; "
                 "the incidents still go to the Redis queue", instance, limit);
}

int oncall_limit_alertmanager(struct json_writer *w, const char *instance, const char *text, uint64_t now_ms,
                              uint64_t ends_ms, const char **out, size_t *len)
{
    am_open(w, "MentiondPageLimit", instance, "warning");
    jw_map_close(w);
    jw_key(w, "annotations");
    jw_map_open(w);
    jw_put_str(w, "summary", text);
    jw_map_close(w);
    jw_put_time(w, "startsAt", now_ms);
    jw_put_time(w, "endsAt", ends_ms);
    jw_map_close(w);
    jw_array_close(w);
    return jw_finish(w, out, len);
}

int oncall_limit_pagerduty(struct json_writer *w, const char *routing_key, const char *instance,
                           const char *text, uint64_t now_ms, const char **out, size_t *len)
{
    char key[192];

    snprintf(key, sizeof key, "%s:page-limit:%llu", instance, (unsigned long long)(now_ms / 3600000));
    jw_reset(w);
    jw_map_open(w);
    jw_put_str(w, "routing_key", routing_key);
    jw_put_str(w, "event_action", "trigger");
    jw_put_str(w, "dedup_key", key);
    jw_key(w, "payload");
    jw_map_open(w);
    put_summary(w, text);
    jw_put_str(w, "source", instance);
    jw_put_str(w, "severity", "warning");
    jw_put_time(w, "timestamp", now_ms);
    jw_put_str(w, "class", "page_limit");
    jw_map_close(w);
    jw_put_str(w, "client", "mentiond");
    jw_map_close(w);
    return jw_finish(w, out, len);
}

int oncall_limit_webhook(struct json_writer *w, const char *instance, const char *text, uint64_t suppressed,
                         const char **out, size_t *len)
{
    jw_reset(w);
    jw_map_open(w);
    jw_put_str(w, "text", text);
    jw_put_str(w, "instance", instance);
    jw_put_str(w, "action", "page_limit");
    jw_put_int(w, "suppressed", (long long)suppressed);
    jw_map_close(w);
    return jw_finish(w, out, len);
}
