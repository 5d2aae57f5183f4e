package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tributary-dev/tributary/controllers/specs"
	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

// DriverClient reaches a driver pod's HTTP endpoint: how the operator
// learns a job's progress and asks for savepoints, stops and drains. Job
// pods hold no Kubernetes credentials; the operator calls them.
type DriverClient interface {
	// Status is the driver's /status.
	Status(ctx context.Context, driver *corev1.Pod) (*cluster.Status, error)
	// Savepoint takes a savepoint of the running job and waits for it.
	Savepoint(ctx context.Context, driver *corev1.Pod, name string) (runtime.SavepointInfo, error)
	// Stop stops the job gracefully, taking the savepoint name if set; the
	// driver exits when it has.
	Stop(ctx context.Context, driver *corev1.Pod, savepoint string) error
	// Drain stops giving tasks to an executor and reports whether it has
	// none left.
	Drain(ctx context.Context, driver *corev1.Pod, executor string) (bool, error)
}

// HTTPDriverClient is the DriverClient of a cluster: it calls the driver
// pod's IP on its HTTP port.
type HTTPDriverClient struct {
	HTTP *http.Client
	// BaseURL overrides where a driver is reached (tests); nil means
	// http://<pod IP>:8080.
	BaseURL func(driver *corev1.Pod) (string, error)
}

// NewHTTPDriverClient returns a client with the timeouts a reconcile can
// afford.
func NewHTTPDriverClient() *HTTPDriverClient {
	return &HTTPDriverClient{HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

func (c *HTTPDriverClient) base(driver *corev1.Pod) (string, error) {
	if c.BaseURL != nil {
		return c.BaseURL(driver)
	}
	if driver.Status.PodIP == "" {
		return "", fmt.Errorf("driver pod %s has no IP yet", driver.Name)
	}
	return "http://" + net.JoinHostPort(driver.Status.PodIP, strconv.Itoa(specs.DriverHTTPPort)), nil
}

func (c *HTTPDriverClient) call(ctx context.Context, driver *corev1.Pod, method, path string, timeout time.Duration, out any) error {
	base, err := c.base(driver)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("driver %s: %w", driver.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("driver %s: %s %s: %w", driver.Name, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("driver %s: %s %s: %s: %s", driver.Name, method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("driver %s: decoding %s: %w", driver.Name, path, err)
		}
	}
	return nil
}

func (c *HTTPDriverClient) Status(ctx context.Context, driver *corev1.Pod) (*cluster.Status, error) {
	var st cluster.Status
	if err := c.call(ctx, driver, http.MethodGet, "/status", 3*time.Second, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *HTTPDriverClient) Savepoint(ctx context.Context, driver *corev1.Pod, name string) (runtime.SavepointInfo, error) {
	var info runtime.SavepointInfo
	err := c.call(ctx, driver, http.MethodPost, "/savepoint?name="+url.QueryEscape(name), time.Minute, &info)
	return info, err
}

func (c *HTTPDriverClient) Stop(ctx context.Context, driver *corev1.Pod, savepoint string) error {
	return c.call(ctx, driver, http.MethodPost, "/stop?savepoint="+url.QueryEscape(savepoint), 5*time.Second, nil)
}

func (c *HTTPDriverClient) Drain(ctx context.Context, driver *corev1.Pod, executor string) (bool, error) {
	var out struct {
		Drained bool `json:"drained"`
	}
	err := c.call(ctx, driver, http.MethodPost, "/executors/"+url.PathEscape(executor)+"/drain", 5*time.Second, &out)
	return out.Drained, err
}
