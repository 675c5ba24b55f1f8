// Package confkit holds the building blocks every stage's configuration uses: a duration that
// needs its unit ("500ms"), and errors that name the field path. It is a leaf (it imports no
// stage), so the stages and configs, which composes them, can both import it.
package confkit
