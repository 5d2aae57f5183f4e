package pipeline

import (
	"context"
	"fmt"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/config/crd"
)

// crdSchema is the StreamingJob CRD's schema, compiled once: the same
// OpenAPI validation, CEL rules and defaults the API server applies.
type crdSchema struct {
	structural *structuralschema.Structural
	openapi    apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	schemaOnce sync.Once
	schema     *crdSchema
	schemaErr  error
)

func loadSchema() (*crdSchema, error) {
	schemaOnce.Do(func() { schema, schemaErr = compileSchema(crd.StreamingJobs) })
	return schema, schemaErr
}

func compileSchema(crdYAML []byte) (*crdSchema, error) {
	var v1 apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(crdYAML, &v1); err != nil {
		return nil, fmt.Errorf("decoding the embedded CRD: %w", err)
	}
	var internal apiextensionsinternal.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &internal, nil); err != nil {
		return nil, fmt.Errorf("converting the embedded CRD: %w", err)
	}
	// The API server would refuse a CRD whose rules do not compile or cost
	// too much; refuse it here too. (Stored versions are the server's
	// bookkeeping, not part of the generated file.)
	internal.Status.StoredVersions = []string{internal.Spec.Versions[0].Name}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) > 0 {
		return nil, fmt.Errorf("the embedded CRD is invalid: %w", errs.ToAggregate())
	}
	// The internal form hoists a schema shared by every version to
	// spec.validation.
	validation := internal.Spec.Validation
	if validation == nil && len(internal.Spec.Versions) == 1 {
		validation = internal.Spec.Versions[0].Schema
	}
	if validation == nil || validation.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("the embedded CRD has no schema")
	}
	props := validation.OpenAPIV3Schema
	structural, err := structuralschema.NewStructural(props)
	if err != nil {
		return nil, fmt.Errorf("structural schema: %w", err)
	}
	openapi, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		return nil, fmt.Errorf("schema validator: %w", err)
	}
	return &crdSchema{
		structural: structural,
		openapi:    openapi,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// validateAgainstCRD defaults obj (a decoded manifest, as from JSON) and
// checks it against the CRD, as the API server does on create.
func validateAgainstCRD(obj map[string]any) ErrorList {
	s, err := loadSchema()
	if err != nil {
		return ErrorList{{Field: "<crd>", Detail: err.Error()}}
	}
	structuraldefaulting.Default(obj, s.structural)
	var out ErrorList
	for _, e := range apiservervalidation.ValidateCustomResource(nil, obj, s.openapi) {
		out = append(out, fromFieldError(e))
	}
	for _, e := range listtype.ValidateListSetsAndMaps(nil, s.structural, obj) {
		out = append(out, fromFieldError(e))
	}
	celErrs, _ := s.cel.Validate(context.Background(), nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	for _, e := range celErrs {
		out = append(out, fromFieldError(e))
	}
	return out
}

func fromFieldError(e *field.Error) FieldError {
	// An Invalid error from a CEL rule carries the whole object as its
	// value; the rule's message says enough.
	if e.Type == field.ErrorTypeInvalid && e.Detail != "" {
		return FieldError{Field: e.Field, Detail: e.Type.String() + ": " + e.Detail}
	}
	return FieldError{Field: e.Field, Detail: e.ErrorBody()}
}
