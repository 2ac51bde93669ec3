/* prov_svc.c — see prov_svc.h. */
#include "test/integration/prov_svc.h"

#include <stdio.h>
#include <string.h>

void prov_svc_init(struct prov_svc *s, const char *ns, const char *name, const char *uid)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "%s", ns);
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->uid, sizeof(s->uid), "%s", uid);
}

void prov_svc_port(struct prov_svc *s, const char *proto, int port, int node_port)
{
    struct lbp_lb_port *p;
    if (s->n_ports >= sizeof(s->ports) / sizeof(s->ports[0]))
        return;
    p = &s->ports[s->n_ports++];
    p->name = NULL;
    p->protocol = proto;
    p->port = port;
    p->node_port = node_port;
}

void prov_svc_node(struct prov_svc *s, const char *name, const char *provider_id)
{
    size_t k = s->n_nodes;
    if (k >= PROV_SVC_MAXN)
        return;
    snprintf(s->nname[k], sizeof(s->nname[k]), "%s", name);
    snprintf(s->pid[k], sizeof(s->pid[k]), "%s", provider_id ? provider_id : "");
    s->nodes[k].name = s->nname[k];
    s->nodes[k].provider_id = provider_id ? s->pid[k] : NULL;
    s->n_nodes++;
}

void prov_svc_nodes(struct prov_svc *s, int first, int last,
                    void (*pid)(int i, char *out, size_t cap))
{
    s->n_nodes = 0;
    for (int i = first; i <= last; i++) {
        char name[32], id[96];
        snprintf(name, sizeof(name), "node-%d", i);
        pid(i, id, sizeof(id));
        prov_svc_node(s, name, id);
    }
}

void prov_svc_ann(struct prov_svc *s, const char *key, const char *value)
{
    if (s->n_ann >= sizeof(s->ann) / sizeof(s->ann[0]))
        return;
    s->ann[s->n_ann].key = key;
    s->ann[s->n_ann].value = value;
    s->n_ann++;
}

const struct lbp_lb_spec *prov_svc_spec(struct prov_svc *s, const char *cluster)
{
    struct lbp_lb_spec *sp = &s->spec;
    memset(sp, 0, sizeof(*sp));
    sp->cluster_name = cluster;
    sp->namespace = s->ns;
    sp->name = s->name;
    sp->uid = s->uid;
    lbp_lb_name(s->uid, sp->lb_name);
    sp->ports = s->ports;
    sp->n_ports = s->n_ports;
    sp->nodes = s->nodes;
    sp->n_nodes = s->n_nodes;
    sp->annotations = s->ann;
    sp->n_annotations = s->n_ann;
    sp->source_ranges = s->ranges;
    sp->n_source_ranges = s->n_ranges;
    sp->session_affinity = s->affinity ? s->affinity : "None";
    sp->local_traffic = s->local;
    sp->health_check_node_port = s->hc_port;
    sp->requested_ip = s->ip;
    return sp;
}
