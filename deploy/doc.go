// Package deploy holds the deployment files of eventfold and the tests that
// check them statically:
//
//   - Dockerfile (build context: the repository root) and Dockerfile.dockerignore
//   - docker-compose.yml: 3 Kafka brokers (KRaft), 3 eventfold nodes,
//     Prometheus and Grafana
//   - prometheus/: scrape configuration and alert rules
//   - grafana/: provisioning and the eventfold dashboard
//   - k8s/: StatefulSet, Services, PodDisruptionBudget, ConfigMap, kustomization
//   - healthcheck/: the probe binary the image runs (it has no shell or curl)
//
// There is no Docker engine or Kubernetes cluster where the tests run, so
// deploy_test.go parses the files and checks them against each other and
// against the code: flag names, routes, ports, and every metric the
// dashboard and the alerts use, scraped from a real node. See
// docs/production.md.
package deploy
