package controllers

import (
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the reconciler reads from pods.

func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podRunning(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodRunning }

func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// terminationGrace is how long the kubelet lets the pod stop gracefully.
func terminationGrace(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return corev1.DefaultTerminationGracePeriodSeconds * time.Second
}

// podFailure says why a pod ended: eviction, its container's exit, or its
// phase.
func podFailure(pod *corev1.Pod) string {
	if pod.Status.Reason != "" {
		return strings.TrimSpace(fmt.Sprintf("%s: %s", pod.Status.Reason, pod.Status.Message))
	}
	for _, c := range pod.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			msg := fmt.Sprintf("container %s exited with code %d", c.Name, t.ExitCode)
			if t.Reason != "" {
				msg += " (" + t.Reason + ")"
			}
			if m := strings.TrimSpace(t.Message); m != "" {
				msg += ": " + truncate(m, 200)
			}
			return msg
		}
	}
	return "pod " + strings.ToLower(string(pod.Status.Phase))
}

// pendingReason says why a pod has not started: a container waiting (an
// image pull), or unschedulable.
func pendingReason(pod *corev1.Pod) string {
	for _, c := range pod.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			return strings.TrimSpace(w.Reason + ": " + truncate(w.Message, 200))
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return strings.TrimSpace(c.Reason + ": " + truncate(c.Message, 200))
		}
	}
	return "not scheduled or started yet"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func mergeMaps(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

// sameData reports whether an owned object's content is what the operator
// would write: a ConfigMap's data, a Service's spec as far as the
// operator sets it.
func sameData(existing, desired client.Object) bool {
	switch want := desired.(type) {
	case *corev1.ConfigMap:
		return equality.Semantic.DeepEqual(existing.(*corev1.ConfigMap).Data, want.Data)
	case *corev1.Service:
		got := existing.(*corev1.Service)
		return equality.Semantic.DeepEqual(got.Spec.Ports, want.Spec.Ports) &&
			equality.Semantic.DeepEqual(got.Spec.Selector, want.Spec.Selector) &&
			got.Spec.PublishNotReadyAddresses == want.Spec.PublishNotReadyAddresses
	}
	return false
}
